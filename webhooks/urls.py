from django.urls import path

from webhooks import views

app_name = "webhooks"
destination = "destinations/<uuid:destination_id>/"
message = "messages/<uuid:message_id>/"
urlpatterns = [
    path("", views.index, name="index"),
    path("destinations/new/", views.destination_create, name="create"),
    path(destination, views.destination_detail, name="destination"),
    path(destination + "edit/", views.destination_edit, name="edit"),
    path(destination + "disable/", views.destination_disable, name="disable"),
    path(destination + "enable/", views.destination_enable, name="enable"),
    path(destination + "delete/", views.destination_delete, name="delete"),
    path(destination + "test/", views.send_test, name="test"),
    path(destination + "rotate/", views.rotate_secret, name="rotate"),
    path(destination + "secret/", views.reveal_secret, name="secret"),
    path(destination + "replay/", views.replay, name="replay"),
    path("messages/", views.message_list, name="messages"),
    path(message, views.message_detail, name="message"),
    path(message + "resend/", views.message_resend, name="resend"),
]
