from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views
from accounts.forms import SignInForm

app_name = "accounts"

sign_in = auth_views.LoginView.as_view(
    template_name="accounts/login.html",
    authentication_form=SignInForm,
    redirect_authenticated_user=True,
)

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", sign_in, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/no-team/", views.no_team, name="no_team"),
    path("invite/<str:token>/", views.invite, name="invite"),
    path("environment/", views.switch_environment, name="switch_environment"),
    path("api-keys/rotate/", views.rotate_secret, name="rotate_secret"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/account/", views.profile_update, name="profile_update"),
    path("settings/password/", views.password_change, name="password_change"),
    path(
        "settings/organisation/",
        views.organisation_rename,
        name="organisation_rename",
    ),
    path("settings/invites/", views.invite_create, name="invite_create"),
    path(
        "settings/invites/<uuid:invite_id>/revoke/",
        views.invite_revoke,
        name="invite_revoke",
    ),
    path(
        "settings/team/<uuid:member_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
]
