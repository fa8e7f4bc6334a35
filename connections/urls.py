from django.urls import path

from connections import views

app_name = "connections"
urlpatterns = [
    path("", views.connection_list, name="list"),
    path("create/", views.create, name="create"),
    path("<uuid:connection_id>/", views.detail, name="detail"),
    path("<uuid:connection_id>/resync/", views.resync, name="resync"),
    path("<uuid:connection_id>/disable/", views.disable, name="disable"),
    path("<uuid:connection_id>/enable/", views.enable, name="enable"),
    path("<uuid:connection_id>/delete/", views.delete, name="delete"),
    path("<uuid:connection_id>/export/", views.export, name="export"),
    path("<uuid:connection_id>/report/", views.report, name="report"),
]
