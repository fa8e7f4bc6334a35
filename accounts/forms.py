from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from accounts import services
from accounts.models import Organisation, Role, User
from accounts.services import email_taken
from rutterdash.environments import Environment


def _autocomplete(kind, widget=forms.TextInput):
    return widget(attrs={"autocomplete": kind})


LOCKED_OUT = (
    "Too many failed sign-ins for this email. Wait a few minutes and try "
    "again, or ask an admin to help."
)


class SignInForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. "
        "Passwords are case-sensitive; emails are not.",
    }
    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(
            attrs={"autofocus": True, "autocomplete": "email"}
        ),
    )

    def clean(self):
        email = self.cleaned_data.get("username") or ""
        if email and services.sign_in_locked(email):
            raise forms.ValidationError(LOCKED_OUT, code="locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if email:
                services.sign_in_failed(email)
            raise
        services.sign_in_succeeded(email)
        return cleaned


class NewAccountForm(forms.Form):
    """Name, email and a password, typed twice, that passes the validators."""

    name = forms.CharField(max_length=150, widget=_autocomplete("name"))
    email = forms.EmailField(widget=_autocomplete("email", forms.EmailInput))
    password = forms.CharField(
        widget=_autocomplete("new-password", forms.PasswordInput),
        help_text=" ".join(
            password_validation.password_validators_help_texts()
        ),
    )
    password_confirm = forms.CharField(
        label="Confirm password",
        widget=_autocomplete("new-password", forms.PasswordInput),
    )

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if email_taken(email):
            raise forms.ValidationError(
                "An account with this email already exists. Sign in instead."
            )
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            self._validate_password(cleaned)
        if password and password != cleaned.get("password_confirm"):
            self.add_error("password_confirm", "The two passwords differ.")
        return cleaned

    def _validate_password(self, cleaned):
        person = User(
            email=cleaned.get("email", ""), name=cleaned.get("name", "")
        )
        try:
            password_validation.validate_password(cleaned["password"], person)
        except forms.ValidationError as error:
            self.add_error("password", error)


class SignUpForm(NewAccountForm):
    organisation_name = forms.CharField(
        label="Organisation name",
        max_length=120,
        widget=_autocomplete("organization"),
    )


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name"]


class OrganisationForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["name"]
        labels = {"name": "Organisation name"}


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.DEVELOPER)


class EnvironmentForm(forms.Form):
    environment = forms.ChoiceField(choices=Environment.choices)
    next = forms.CharField(required=False)
    # Set by the "in the other environment" page: next is that object's page.
    open_object = forms.BooleanField(required=False)


class RotateSecretForm(forms.Form):
    environment = forms.ChoiceField(
        choices=Environment.choices, widget=forms.HiddenInput
    )
