from django.urls import path

from customize import views

app_name = "customize"
urlpatterns = [
    path("", views.index, name="index"),
    path("logo/<str:public_key>.png", views.logo, name="logo"),
]
