from django import forms
from django.core.exceptions import ValidationError

from customize import logos, origins
from platforms.forms import EnvironmentBoundForm

MAX_ORIGINS = 50


def _choice_label(state):
    if state.needs_credentials:
        return f"{state.platform.name} (not available: needs credentials)"
    if state.needs_production_sign_in:
        return f"{state.platform.name} (not available in production yet)"
    return state.platform.name


class LinkSettingsForm(EnvironmentBoundForm):
    show_title = forms.BooleanField(
        label="Show a title on Link's first step", required=False
    )
    title = forms.CharField(
        label="Title",
        max_length=80,
        required=False,
        help_text="Leave blank to show your organisation's name.",
    )
    logo = forms.FileField(
        label="Logo",
        required=False,
        help_text="PNG, JPEG, WebP or GIF, up to 2 MB and 4096×4096 pixels."
        " Link shows it at most 52 pixels tall and 220 pixels wide, keeping"
        " its shape: a wide logo reads best.",
        widget=forms.FileInput(attrs={"accept": logos.ACCEPTED_TYPES}),
    )
    shown_platforms = forms.MultipleChoiceField(
        label="Platforms Link offers",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    allowed_origins = forms.CharField(
        label="Allowed origins",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One per line, such as https://app.example.com. Production"
        " Link opens only from these origins.",
    )

    def __init__(self, *args, platform_states, upload_too_large=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.upload_too_large = upload_too_large
        self.platform_states = platform_states
        self.offerable = [state for state in platform_states if state.enabled]
        self.fields["shown_platforms"].choices = [
            (state.platform.code, _choice_label(state)) for state in self.offerable
        ]
        if self.scope.is_sandbox:
            # Sandbox Link opens from any origin; nothing here to set.
            del self.fields["allowed_origins"]

    def platform_groups(self):
        """The platform checkboxes by catalog category, for the template."""
        category = {s.platform.code: s.platform.category for s in self.offerable}
        groups = {}
        for checkbox in self["shown_platforms"]:
            groups.setdefault(category[checkbox.data["value"]], []).append(checkbox)
        return list(groups.items())

    def clean_title(self):
        title = self.cleaned_data["title"]
        if any(ord(char) < 32 or ord(char) == 127 for char in title):
            raise ValidationError("The title cannot contain control characters.")
        return title

    def clean_logo(self):
        upload = self.cleaned_data.get("logo")
        if self.upload_too_large:
            raise ValidationError(logos.TOO_MANY_BYTES)
        if not upload:
            return None
        try:
            return logos.prepare_logo(upload)
        except logos.LogoRejected as refusal:
            raise ValidationError(str(refusal)) from None

    def clean_shown_platforms(self):
        shown = self.cleaned_data["shown_platforms"]
        if self.offerable and not shown:
            raise ValidationError("Choose at least one platform for Link to offer.")
        return shown

    def clean_allowed_origins(self):
        lines = self.cleaned_data["allowed_origins"].splitlines()
        numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
        if len(numbered) > MAX_ORIGINS:
            raise ValidationError(
                f"List at most {MAX_ORIGINS} origins; this list has {len(numbered)}."
            )

        parsed, problems = [], []
        for number, line in numbered:
            try:
                parsed.append(self._allowed_origin(line))
            except origins.InvalidOrigin as problem:
                problems.append(f"Line {number} ({line.strip()[:60]}): {problem}")
        if problems:
            raise ValidationError(problems)
        return list(dict.fromkeys(parsed))

    def _allowed_origin(self, line):
        origin = origins.parse_origin(line)
        if origin.startswith("http://") and not origins.is_loopback(origin):
            raise origins.InvalidOrigin(
                "Use https://. Production allows http:// only for localhost"
                " and loopback addresses."
            )
        return origin

    def hidden_platforms(self, previously_hidden):
        """Codes Link hides: unticked ones, plus disabled ones already hidden."""
        offerable = {state.platform.code for state in self.offerable}
        shown = set(self.cleaned_data["shown_platforms"])
        kept = set(previously_hidden) - offerable
        return sorted(kept | (offerable - shown))
