import base64
import binascii
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django import forms
from django.utils import timezone

from rutterdash.environments import Environment
from webhooks import netguard, services
from webhooks.events import EVENT_TYPES, TEST_EVENT
from webhooks.models import Destination, MessageStatus, PayloadVersion

DATETIME_WIDGET = forms.DateTimeInput(
    attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
)
OVERLAPS = [
    ("0", "End it now: only the new secret signs"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
]


def event_type_choices():
    return [(name, name) for name in EVENT_TYPES]


class DestinationURLField(forms.URLField):
    """A URLField that says why an odd URL is refused, as the API does.

    Django's check only says "Enter a valid URL." for hosts such as
    2130706433 or 0x7f.1; netguard knows what they are. A fully qualified
    "localhost." passes as it does through the API.
    """

    def run_validators(self, value):
        # Past 2048 characters Django adds "Enter a valid URL." to the
        # length error; the length is the one thing to fix.
        if self.max_length is not None and len(value) > self.max_length:
            raise forms.ValidationError(
                f"A URL can be at most {self.max_length} characters; "
                f"this one has {len(value)}.",
                code="max_length",
            )
        try:
            super().run_validators(value)
        except forms.ValidationError as invalid:
            try:
                netguard.check_url(value)
            except netguard.Unresolved:
                raise invalid from None  # "not a url" is no host name to look up
            except netguard.UnsafeDestination as refusal:
                raise forms.ValidationError(refusal.message, code="refused") from None
            if not _valid_without_root_dot(self, value):
                raise invalid from None


def _valid_without_root_dot(field, url):
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.endswith("."):
        return False
    netloc = parts.netloc.replace(host, host.rstrip("."), 1)
    try:
        forms.URLField.run_validators(field, parts._replace(netloc=netloc).geturl())
    except forms.ValidationError:
        return False
    return True


class DestinationForm(forms.ModelForm):
    """A destination's settings, for the environment the page was drawn in.

    The sidebar switch is per session: a form left open in another tab
    may be sent after a switch, and must not land in the other environment.
    """

    environment = forms.ChoiceField(
        choices=Environment.choices, widget=forms.HiddenInput
    )
    url = DestinationURLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="Where we POST each event.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks"}),
    )
    event_types = forms.MultipleChoiceField(
        label="Event types",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event type, "
        "including ones added later.",
    )

    class Meta:
        model = Destination
        fields = ["url", "description", "event_types", "payload_version", "enabled"]
        labels = {"enabled": "Send events to this destination"}
        help_texts = {
            "description": "Optional: what this destination is for.",
            "payload_version": "The shape of the payloads we send.",
        }

    def __init__(self, *args, scope, **kwargs):
        kwargs.setdefault("initial", {})["environment"] = scope.environment
        super().__init__(*args, **kwargs)
        self.scope = scope
        self.fields["event_types"].choices = event_type_choices()
        self.fields["payload_version"].choices = PayloadVersion.choices

    def clean_environment(self):
        drawn_in = self.cleaned_data["environment"]
        if drawn_in != self.scope.environment:
            raise forms.ValidationError(
                f"This page was opened in {Environment(drawn_in).label}, but "
                "the dashboard has since switched to "
                f"{Environment(self.scope.environment).label}. Nothing was "
                "saved; switch back or check the page, then save again.",
                code="switched",
            )
        return drawn_in

    def tampered(self):
        """Whether the hidden environment is missing or unknown."""
        errors = self.errors.as_data().get("environment", [])
        return any(error.code != "switched" for error in errors)

    def clean_url(self):
        url = self.cleaned_data["url"]
        unchanged = self.instance.pk and url == self.instance.url
        if unchanged:
            return url
        try:
            services.check_url(url)
        except services.DestinationRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None
        return url

    def fields_to_save(self):
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class DisableForm(forms.Form):
    reason = forms.CharField(
        label="Reason for disabling (optional)",
        max_length=300,
        required=False,
        help_text="Shown to your team beside the destination.",
    )


class RotateForm(forms.Form):
    overlap = forms.TypedChoiceField(
        label="Keep signing with the old secret for",
        choices=OVERLAPS,
        coerce=lambda seconds: timedelta(seconds=int(seconds)),
        initial="86400",
        help_text="During the overlap every request carries both signatures, "
        "so receivers can switch secrets without dropping events.",
    )


class ReplayForm(forms.Form):
    since = forms.DateTimeField(label="Failed since (UTC)", widget=DATETIME_WIDGET)

    def clean_since(self):
        since = self.cleaned_data["since"]
        if since > timezone.now():
            raise forms.ValidationError("Choose a time in the past.")
        return since


class LogFilterForm(forms.Form):
    """The delivery log's query string."""

    status = forms.ChoiceField(
        choices=[("", "Any status"), *MessageStatus.choices], required=False
    )
    event_type = forms.ChoiceField(label="Event type", required=False)
    destination = forms.ChoiceField(required=False)
    connection = forms.UUIDField(
        label="Connection id",
        required=False,
        error_messages={
            "invalid": "Enter a connection id, such as the one "
            "shown on the connection's page."
        },
    )
    since = forms.DateTimeField(
        label="From (UTC)", required=False, widget=DATETIME_WIDGET
    )
    until = forms.DateTimeField(
        label="To (UTC)", required=False, widget=DATETIME_WIDGET
    )
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, destinations, **kwargs):
        super().__init__(*args, **kwargs)
        event_types = [
            ("", "Any event type"),
            *event_type_choices(),
            (TEST_EVENT, "TEST_EVENT (sent from this page)"),
        ]
        self.fields["event_type"].choices = event_types
        self.fields["destination"].choices = [("", "Any destination")] + [
            (str(d.pk), destination_label(d)) for d in destinations
        ]

    def clean(self):
        since = self.cleaned_data.get("since")
        until = self.cleaned_data.get("until")
        if since and until and until < since:
            self.add_error("until", "The end must not be before the start.")
        return self.cleaned_data

    def clean_before(self):
        value = self.cleaned_data["before"]
        return decode_cursor(value) if value else None

    def filters(self):
        return {k: v for k, v in self.cleaned_data.items() if v not in ("", None)}


def destination_label(destination):
    """The URL, which tells destinations apart, then the description if any."""
    if destination.description:
        return f"{destination.url} ({destination.description})"
    return destination.url


class CursorInvalid(Exception):
    pass


def encode_cursor(message):
    raw = f"{message.created.isoformat()}|{message.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(value):
    """The (created, id) a cursor points at; tampering raises CursorInvalid."""
    try:
        raw = base64.urlsafe_b64decode(value.encode()).decode()
        created, message_id = raw.split("|")
        created, message_id = datetime.fromisoformat(created), uuid.UUID(message_id)
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise CursorInvalid from error
    if created.tzinfo is None:
        raise CursorInvalid
    return created, message_id
