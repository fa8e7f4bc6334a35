from django import forms
from django.core.exceptions import ValidationError

from rutterdash.environments import Environment

CLIENT_ID_MAX = 300
CLIENT_SECRET_MIN = 8
CLIENT_SECRET_MAX = 500


class EnvironmentBoundForm(forms.Form):
    """A change made on a page of one environment applies to that one only.

    The sidebar switch is per session, so a page left open in another tab
    may post after the switch; such a post is refused instead of landing in
    the other environment.
    """

    environment = forms.ChoiceField(
        choices=Environment.choices, widget=forms.HiddenInput
    )

    def __init__(self, *args, scope, **kwargs):
        kwargs.setdefault("initial", {})["environment"] = scope.environment
        super().__init__(*args, **kwargs)
        self.scope = scope

    def clean_environment(self):
        environment = self.cleaned_data["environment"]
        if environment != self.scope.environment:
            shown = Environment(environment).label
            raise ValidationError(
                f"This page was opened in {shown}, but the dashboard has since"
                f" switched to {Environment(self.scope.environment).label}."
                " Nothing was saved; check the page and try again.",
                code="switched",
            )
        return environment


class PlatformSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, strip=True)


class PlatformToggleForm(EnvironmentBoundForm):
    enabled = forms.TypedChoiceField(
        choices=[("true", "Enable"), ("false", "Disable")],
        coerce=lambda value: value == "true",
    )


def _printable(label):
    def check(value):
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ValidationError(
                f"The {label} contains a control character; paste it again."
            )
        if any(char.isspace() for char in value):
            raise ValidationError(f"The {label} cannot contain spaces.")
        if not value.isascii():
            raise ValidationError(
                f"The {label} has characters a developer portal never uses"
                " (such as curly quotes); copy it from the portal again."
            )

    return check


class CredentialsForm(EnvironmentBoundForm):
    client_id = forms.CharField(
        label="Client ID",
        max_length=CLIENT_ID_MAX,
        validators=[_printable("client ID")],
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        min_length=CLIENT_SECRET_MIN,
        max_length=CLIENT_SECRET_MAX,
        validators=[_printable("client secret")],
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, has_secret=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_secret = has_secret
        secret = self.fields["client_secret"]
        if has_secret:
            secret.help_text = "Leave blank to keep the stored secret."
        else:
            secret.required = True
        secret.error_messages["required"] = "Enter the client secret."
        self.fields["client_id"].error_messages["required"] = "Enter the client ID."


class ConfirmForm(EnvironmentBoundForm):
    """An action with nothing to fill in but the page's environment."""
