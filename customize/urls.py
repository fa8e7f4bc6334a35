from django.urls import path

from customize import views

app_name = "customize"
urlpatterns = [
    path("", views.index, name="index"),
]
