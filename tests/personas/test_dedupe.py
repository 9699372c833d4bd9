"""Near-duplicate detection on crafted cards."""

from jedi_academy.personas.dedupe import NearDuplicateIndex, card_similarity
from tests.factories import make_card


def test_same_person_under_another_name_is_a_near_duplicate() -> None:
    robin, sam = make_card("Robin"), make_card("Sam", evidence=("c9",))
    assert card_similarity(robin, sam) == 1.0
    index = NearDuplicateIndex(threshold=0.5)
    index.add("p1", robin)
    nearest = index.nearest(sam)
    assert nearest == ("p1", 1.0) and index.is_duplicate(nearest)
    assert not NearDuplicateIndex(threshold=0.0).is_duplicate(
        NearDuplicateIndex().nearest(sam)
    )  # nothing kept


def test_a_different_person_is_not() -> None:
    other = make_card("Ada").model_dump()
    replacements = iter(
        f"Completely different trait number {n} about gardening, debts and a new baby" for n in range(20)
    )
    model = other["cognitive_model"]
    for holder, field in [(other, "presenting_problems"), (other, "symptoms"), (other, "goals"),
                          (other, "resistances"), (model, "relevant_history"), (model, "core_beliefs"),
                          (model, "intermediate_beliefs"), (model, "coping_strategies"),
                          (other["risk"], "protective_factors")]:  # fmt: skip
        for trait in holder[field]:
            trait["text"] = next(replacements)
    for situation in model["situations"]:
        for key in ("situation", "automatic_thought", "behaviour"):
            situation[key] = next(replacements)
    for key in ("occupation", "relationships"):
        other["demographics"][key]["text"] = next(replacements)
    other["speaking_style"]["text"] = next(replacements)
    other["demographics"]["age_band"] = "55-64"
    ada = type(make_card()).model_validate(other)
    index = NearDuplicateIndex(threshold=0.5)
    index.add("p1", make_card())
    nearest = index.nearest(ada)
    assert nearest[1] < 0.2 and not index.is_duplicate(nearest)


def test_small_edits_stay_near_duplicates_and_severity_counts() -> None:
    base = make_card()
    edited = base.model_dump()
    edited["goals"][0]["text"] = "Enjoy weekends again with friends"
    edited_card = type(base).model_validate(edited)
    assert 0.5 <= card_similarity(base, edited_card) < 1.0
    harsher = base.model_dump()
    harsher["symptoms"][0]["severity"] = "severe"
    assert card_similarity(base, type(base).model_validate(harsher)) < 1.0
