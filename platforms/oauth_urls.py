from django.urls import path

from platforms import oauth_views

app_name = "oauth"
urlpatterns = [
    path("start/<str:flow_id>", oauth_views.start, name="start"),
    path("callback", oauth_views.callback, name="callback"),
]
