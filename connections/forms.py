import calendar

from django import forms
from django.http import QueryDict

from connections.models import ConnectionStatus
from platforms import catalog
from rutterdash.environments import Environment

MAX_REPORT_MONTHS = 36
MONTH_FORMATS = ["%Y-%m", "%Y-%m-%d"]


class ConnectionFilterForm(forms.Form):
    """The list's query string; a value that fails to validate is ignored."""

    status = forms.ChoiceField(
        choices=[("", "All"), *ConnectionStatus.choices], required=False
    )
    q = forms.CharField(label="Search", max_length=200, required=False)
    page = forms.IntegerField(min_value=1, required=False)

    def filters(self):
        self.is_valid()
        return {
            "status": self.cleaned_data.get("status", ""),
            "q": self.cleaned_data.get("q", ""),
            "page": self.cleaned_data.get("page") or 1,
        }


class ConnectionCreateForm(forms.Form):
    """A sandbox connection, from the environment the page was drawn in.

    The sidebar switch is per session: a form left open in a Sandbox tab
    and sent after another tab switched to Production must not be lost,
    nor land anywhere else. An older client that sends no environment gets
    the session's, as before.
    """

    environment = forms.ChoiceField(
        choices=Environment.choices,
        required=False,
        initial=Environment.SANDBOX,
        widget=forms.HiddenInput,
    )
    platform = forms.ChoiceField(choices=catalog.choices())
    store_name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Leave empty for a generated sample business name.",
    )

    def __init__(self, *args, scope, **kwargs):
        super().__init__(*args, **kwargs)
        self.scope = scope

    def clean_environment(self):
        drawn_in = self.cleaned_data["environment"] or self.scope.environment
        if drawn_in != self.scope.environment:
            raise forms.ValidationError(
                f"This form was opened in {Environment(drawn_in).label}, but the "
                "dashboard has since switched to "
                f"{Environment(self.scope.environment).label}. Nothing was "
                "created.",
                code="switched",
            )
        return drawn_in

    def switched(self):
        return self.has_error("environment", code="switched")

    def kept_input_query(self):
        """The typed platform and store name, for the list to fill in again."""
        kept = QueryDict(mutable=True)
        for name in ("platform", "store_name"):
            if self.data.get(name):
                kept[name] = self.data[name][:200]
        return kept.urlencode()


class DisableForm(forms.Form):
    reason = forms.CharField(
        label="Reason for disabling (optional)",
        max_length=200,
        required=False,
        help_text="Shown to your team on the connection page.",
    )


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self):
        super().__init__(format="%Y-%m", attrs={"placeholder": "YYYY-MM"})


class ReportPeriodForm(forms.Form):
    start = forms.DateField(
        label="From month", input_formats=MONTH_FORMATS, widget=MonthInput()
    )
    end = forms.DateField(
        label="To month", input_formats=MONTH_FORMATS, widget=MonthInput()
    )

    def __init__(self, *args, today, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.this_month = today.replace(day=1)

    def clean_start(self):
        return self._past_month(self.cleaned_data["start"])

    def clean_end(self):
        return self._past_month(self.cleaned_data["end"])

    def clean(self):
        start = self.cleaned_data.get("start")
        end = self.cleaned_data.get("end")
        if start and end and end < start:
            self.add_error("end", "The end month must not be before the start.")
        elif start and end and months_between(start, end) > MAX_REPORT_MONTHS:
            self.add_error(
                "start", f"Choose a period of at most {MAX_REPORT_MONTHS} months."
            )
        return self.cleaned_data

    def period(self):
        """From the first day of the start month to the end month's last day.

        A period ending this month ends today, so aging is not measured
        against days that have not come yet.
        """
        end = self.cleaned_data["end"]
        last_day = calendar.monthrange(end.year, end.month)[1]
        month_end = end.replace(day=last_day)
        return self.cleaned_data["start"], min(month_end, self.today)

    def _past_month(self, value):
        month = value.replace(day=1)
        if month > self.this_month:
            raise forms.ValidationError("That month has not happened yet.")
        return month


def months_between(start, end):
    """How many calendar months a period covers, both ends included."""
    return (end.year - start.year) * 12 + end.month - start.month + 1
