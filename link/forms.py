from django import forms

from customize.origins import InvalidOrigin, parse_origin
from link import services

NONCE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# Longer platform names are not in the catalog; the picker quotes this much.
KEPT_PLATFORM_LENGTH = 64

# What the business reads when the app opened Link with a bad address. They
# cannot fix it themselves, so these say what went wrong, not which field.
REFUSALS = {
    "origin": "This link was opened from a page we can't identify, so it"
    " can't continue.",
    "redirect_url": "This link was opened with an address we can't return"
    " you to afterwards.",
    "nonce": "This link is incomplete or was changed after the app made it.",
}
REFUSAL_FALLBACK = "This link is not valid."


class LinkStartForm(forms.Form):
    """The query string the SDK (or a link_url) opens Link with."""

    origin = forms.CharField(required=False, max_length=services.MAX_URL_LENGTH)
    nonce = forms.RegexField(NONCE_PATTERN, required=False)
    # No max_length: an over-long name is an unknown platform, not a broken link.
    platform = forms.CharField(required=False)
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
        unknown = "" if cleaned["platform"] else requested
        cleaned["unknown_platform"] = unknown[:KEPT_PLATFORM_LENGTH]
        return cleaned

    def refusal(self):
        """The first problem, in words for the business rather than the app."""
        for field in self.errors:
            return REFUSALS.get(field, REFUSAL_FALLBACK)
        return ""

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
