"""The dashboard's forms (Flask-WTF: every one carries a CSRF token; errors show in the form).

Small one-button forms (pause, acknowledge, remove) have no fields: they are plain HTML forms
with the token, checked by `CSRFProtect` like every other POST.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from agent.rules.household import WEEKDAYS
from agent.store.accounts import MAX_PASSWORD, MIN_PASSWORD

try:
    from wtforms import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs

    def SelectChoice(value: str, label: str) -> tuple[str, str]:  # type: ignore[no-redef]  # noqa: N802
        return (value, label)


SAME = "The two passwords are not the same"


def options(pairs: Iterable[tuple[str, str]]) -> list[Any]:
    """Choices for a select, radio or checkbox field, from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


DAY_CHOICES = options((str(i), d.capitalize()) for i, d in enumerate(WEEKDAYS))


class Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _password(label: str) -> PasswordField:
    return PasswordField(
        label,
        [
            DataRequired(),
            Length(
                MIN_PASSWORD,
                MAX_PASSWORD,
                f"Use at least {MIN_PASSWORD} characters (and at most {MAX_PASSWORD})",
            ),
        ],
        description=f"At least {MIN_PASSWORD} characters. Three random words work well.",
    )


class SetupForm(FlaskForm):
    code = StringField(
        "Setup code",
        [DataRequired(), Length(max=20)],
        description="Shown where HouseRules started (and kept in a file on the box).",
    )
    name = StringField("Your name", [DataRequired(), Length(max=40)])
    password = _password("Choose a password")
    confirm = PasswordField("The password again", [DataRequired(), EqualTo("password", SAME)])


class LoginForm(FlaskForm):
    name = StringField("Your name", [DataRequired(), Length(max=40)])
    password = PasswordField("Password", [DataRequired(), Length(max=MAX_PASSWORD)])


class ChildForm(FlaskForm):
    name = StringField("Name", [DataRequired(), Length(max=40)])
    born = DateField(
        "Date of birth",
        [InputRequired(message="Give a date of birth")],
        description="Age limits follow from it.",
    )


class ChildEditForm(FlaskForm):
    name = StringField("Name", [DataRequired(), Length(max=40)])
    born = DateField(
        "Date of birth",
        [InputRequired(message="Give a date of birth")],
        description="Age limits follow from it.",
    )
    adult_ok = BooleanField("Yes, this date is right: they are 18 or older")


class ScheduleForm(FlaskForm):
    name = StringField(
        "Name", [DataRequired(), Length(max=40)], description="For example Bedtime or School"
    )
    days = Checkboxes("Days", [DataRequired(message="Pick at least one day")], choices=DAY_CHOICES)
    start = TimeField("From", [Optional()])
    end = TimeField(
        "To",
        [Optional()],
        description="Earlier than the start means the next morning (overnight).",
    )
    all_day = BooleanField(
        "All day",
        description="The whole of each day ticked; then From and To are not used.",
    )
    scope = RadioField(
        "What goes off",
        choices=options([("all", "The whole internet"), ("some", "Only what is ticked below")]),
        default="all",
    )
    block = Checkboxes("Categories", choices=[])
    allow = StringField(
        "Still allowed (websites)",
        [Optional(), Length(max=500)],
        description="Comma-separated, e.g. bbc.co.uk, for homework.",
    )


class DomainRuleForm(FlaskForm):
    domain = StringField(
        "Website", [DataRequired(), Length(max=253)], description="e.g. example.com"
    )
    verb = RadioField(
        "Rule", choices=options([("block", "Block"), ("allow", "Allow")]), default="block"
    )


class SettingsForm(FlaskForm):
    safe_search = BooleanField("Safe search on Google, Bing and DuckDuckGo")
    youtube_level = SelectField(
        "YouTube restricted mode",
        choices=options(
            [("age", "By age"), ("strict", "Strict"), ("moderate", "Moderate"), ("off", "Off")]
        ),
    )
    protections_on = BooleanField(
        "Block ways around the rules (VPNs, proxies, private DNS)",
        description="Leave this on unless a school app needs a VPN.",
    )


class DeviceForm(FlaskForm):
    name = StringField("Name", [Optional(), Length(max=40)])
    owner = SelectField("Whose is it?", choices=[])


class MergeForm(FlaskForm):
    keep = SelectField("Keep this device", choices=[])
    drop = SelectField("and fold this one into it", choices=[])


class AccountForm(FlaskForm):
    name = StringField("Their name", [DataRequired(), Length(max=40)])
    password = _password("Their password")
    confirm = PasswordField("The password again", [DataRequired(), EqualTo("password", SAME)])


class TokenForm(FlaskForm):
    name = StringField("What it is for", [DataRequired(), Length(max=40)])
    scope = RadioField(
        "It may",
        choices=[
            ("read", "Only look (read-only)"),
            ("write", "Look and change things: pause, more time, answer requests"),
        ],
        default="read",
        validators=[InputRequired()],
    )


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", [DataRequired(), Length(max=MAX_PASSWORD)])
    new = _password("New password")
    confirm = PasswordField("New password again", [DataRequired(), EqualTo("new", SAME)])


class CarerForm(FlaskForm):
    name = StringField("Name", [DataRequired(), Length(max=40)])
    email = EmailField("Email address", [DataRequired(), Length(max=254)])
    children = Checkboxes(
        "Hears about", [DataRequired(message="Pick at least one child")], choices=[]
    )
    alerts = BooleanField("Also email alerts as they happen")


class MoreTimeForm(FlaskForm):
    minutes = SelectField(
        "How long?",
        choices=options([("15", "15 minutes"), ("30", "30 minutes"), ("60", "1 hour")]),
        default="30",
    )
    message = TextAreaField("Anything to add? (optional)", [Optional(), Length(max=200)])


class UnblockForm(FlaskForm):
    app = SelectField("An app", choices=[], validate_choice=False)
    site = StringField("or a website", [Optional(), Length(max=253)])
    message = TextAreaField("Why would you like it? (optional)", [Optional(), Length(max=200)])


class DiscussedForm(FlaskForm):
    child_id = HiddenField()
    prompt_id = HiddenField()
    note = TextAreaField(
        "Private note (optional)",
        [Optional(), Length(max=1000)],
        description="Only parents logged in here can read it.",
    )
