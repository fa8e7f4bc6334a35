from django.urls import path

from platforms import views

app_name = "platforms"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:code>/", views.detail, name="detail"),
    path("<slug:code>/toggle", views.toggle, name="toggle"),
    path("<slug:code>/credentials", views.credentials_save, name="credentials"),
    path(
        "<slug:code>/credentials/remove",
        views.credentials_remove,
        name="credentials_remove",
    ),
]
