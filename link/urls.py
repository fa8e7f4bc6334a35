from django.urls import path

from link import views

app_name = "link"
urlpatterns = [
    path("linkstart/<str:public_key>", views.linkstart, name="start"),
    path(
        "connection/<uuid:connection_id>",
        views.connection_start,
        name="connection",
    ),
    path("link/<str:flow_id>/", views.landing, name="landing"),
    path("link/<str:flow_id>/platforms/", views.picker, name="picker"),
    path("link/<str:flow_id>/sign-in/", views.sign_in, name="sign_in"),
    path("link/<str:flow_id>/done/", views.success, name="success"),
    path("link/<str:flow_id>/cancel/", views.cancel, name="cancel"),
    path(
        "versioned/link/websocket/auth",
        views.websocket_auth,
        name="websocket_auth",
    ),
]
