from django import forms

from customize.origins import InvalidOrigin, parse_origin
from link import services

NONCE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class LinkStartForm(forms.Form):
    """The query string the SDK (or a link_url) opens Link with."""

    origin = forms.CharField(required=False, max_length=services.MAX_URL_LENGTH)
    nonce = forms.RegexField(NONCE_PATTERN, required=False)
    platform = forms.CharField(required=False, max_length=64)
    redirect_url = forms.CharField(
        required=False, max_length=services.MAX_URL_LENGTH, strip=False
    )

    def clean_origin(self):
        origin = self.cleaned_data["origin"]
        if not origin:
            return ""
        try:
            return parse_origin(origin)
        except InvalidOrigin as problem:
            raise forms.ValidationError(str(problem)) from None

    def clean(self):
        cleaned = super().clean()
        requested = cleaned.get("platform", "")
        cleaned["platform"] = services.platform_code(requested)
        # Kept so the picker can say which name it did not recognise.
        cleaned["unknown_platform"] = "" if cleaned["platform"] else requested
        return cleaned

    def clean_redirect_url(self):
        url = self.cleaned_data["redirect_url"]
        if not url:
            return ""
        if services.checked_redirect_url(url) is None:
            raise forms.ValidationError("must be an http(s) URL.")
        return url


class PlatformSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search platforms")


class PlatformChoiceForm(forms.Form):
    platform = forms.CharField(max_length=64)


class SandboxSignInForm(forms.Form):
    username = forms.CharField(max_length=100)
    password = forms.CharField(max_length=100, strip=False, widget=forms.PasswordInput)
    store_name = forms.CharField(
        max_length=200,
        required=False,
        label="Store or company name (optional)",
    )
