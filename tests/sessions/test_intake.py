"""The intake sheet: what a referral tells the therapist, from card v1 and from card v2 fields."""

import json

from jedi_academy.personas.intake import card_resistances, card_stage_of_change, intake_sheet, render_intake
from tests.factories import make_card, make_card_v1


def test_v1_card_gives_a_referral_without_name_or_evidence() -> None:
    card = make_card_v1("Robin")
    sheet = intake_sheet(card)
    assert sheet["age"] == "25-34" and sheet["occupation"] == "Works in a warehouse"
    assert sheet["gender"] == "not stated" and sheet["stage_of_change"] == "not stated"
    assert sheet["presenting_problem"] == ["Low mood that has lasted for months"]
    assert sheet["duration"] == "for months"
    assert sheet["risk"]["assessed"] is False and "assess risk at intake" in sheet["risk"]["summary"]
    text = json.dumps(sheet)
    assert "Robin" not in text and "evidence" not in text and "c1" not in text
    assert "Doubts that talking helps" not in text  # resistances are the patient's, not the referral's
    assert "Presenting problem: Low mood" in render_intake(sheet)
    assert card_resistances(card) == ["Doubts that talking helps"]
    assert card_stage_of_change(card) is None


def test_v2_fields_are_used_when_present_and_inferred_facts_left_out() -> None:
    card = {
        "schema_version": 2,
        "name": "Kai",
        "demographics": {
            "age": {"text": "about 40", "status": "stated"},
            "gender": {"text": "man", "status": "inferred"},
            "occupation": "not stated",
        },
        "context": {"occupation": {"text": "Nurse on night shifts", "status": "inferred"}},
        "presenting_problems": [
            {"text": 'Kai says he "cannot switch off" and panics before shifts', "status": "stated"},
            {"text": "Probably lonely", "status": "inferred"},
        ],
        "duration": {"text": "two years", "status": "stated"},
        "stage_of_change": {"stage": "contemplation", "status": "inferred"},
        "resistances": [{"text": "Distrusts medication", "status": "stated"}, "Skips homework when tired"],
        "risk": {
            "ideation": "passive",
            "self_harm": {"level": "none"},
            "substances": ["alcohol most evenings"],
            "protective_factors": [{"text": "his daughter", "status": "stated"}],
        },
    }
    sheet = intake_sheet(card)
    assert sheet["age"] == "about 40"
    assert sheet["gender"] == "not stated" and sheet["occupation"] == "not stated"  # inferred or not stated
    assert sheet["presenting_problem"] == ["the client says he and panics before shifts"]
    assert sheet["duration"] == "two years"
    assert sheet["stage_of_change"] == "contemplation"
    risk = sheet["risk"]
    assert risk["assessed"] is True and risk["ideation"] == "passive" and risk["self_harm"] == "none"
    assert risk["substances"] == "alcohol most evenings" and risk["protective_factors"] == ["his daughter"]
    assert "Kai" not in json.dumps(sheet) and "switch off" not in json.dumps(sheet)
    assert card_resistances(card) == ["Distrusts medication", "Skips homework when tired"]
    assert card_stage_of_change(card) == "contemplation"


def test_a_real_v2_card_gives_its_stage_and_structured_risk() -> None:
    sheet = intake_sheet(make_card("Robin"))
    assert sheet["stage_of_change"] == "contemplation"
    assert sheet["risk"]["assessed"] is True
    assert sheet["risk"]["suicidal_ideation"] == "passive"
    assert "Robin" not in json.dumps(sheet)
