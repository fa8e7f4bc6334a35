from django.urls import path

from customize import views

app_name = "customize"
urlpatterns = [
    path("", views.index, name="index"),
    path("save", views.save, name="save"),
    path("preview", views.preview, name="preview"),
    path("logo/remove", views.logo_remove, name="logo_remove"),
    path("logo/<str:public_key>.png", views.logo, name="logo"),
]
