"""Loop step 5, the no-therapist control: the same loop iteration without the therapist.

Beside the therapist child, a control child is trained from the same parent with the same budget (strategy,
steps, batch, learning rate, seed) on the parent's dataset plus as many conversations as the therapist's loop
added, but neutral ones: the placebo script's small talk (no technique, no recommendations) for the same
persona, answered by the teacher in character and passed through the same guards. It is measured by the
same function as the therapist child (``run.measure_child``), so both follow the case's measurement rule,
and the therapist effect is the therapist child's change minus the control child's (instruments/effect.py).

Crash safety: every sub-step (conversations, merge, refine, reassess) is committed into ``loop_runs.control``
as it finishes, and each is resumable on its own (deterministic conversation ids and seeds, a
content-addressed dataset, training resumed from its saved state, stored assessment runs reused).
The control checkpoint is registered with role ``control``: never a case's current checkpoint, never offered
for new cases (sessions/records.py refuses it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.effect import no_effect, session_effect
from jedi_academy.results import Result
from jedi_academy.sessions.seeds import derive_seed
from jedi_academy.store import ArtifactStore
from jedi_academy.store.models import Case, LoopRun, Persona

if TYPE_CHECKING:
    from jedi_academy.loop.run import LoopContext

CONTROL_ORIGIN = "control"
UNCONTROLLED = "uncontrolled"
UNCONTROLLED_REASON = "uncontrolled: the loop ran with --no-control (for exploring; no therapist effect)"
SUBSTEPS = ("conversations", "merge", "refine", "reassess")


@cache
def neutral_script() -> dict[str, Any]:
    """The placebo therapist's sessions (package data shared with the experiment): friendly small talk."""
    path = resources.files("jedi_academy.loop").joinpath("data/therapists/placebo.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def uncontrolled() -> dict[str, Any]:
    return {"status": UNCONTROLLED, "reason": UNCONTROLLED_REASON}


def run_control(context: LoopContext, loop: LoopRun, echo: Any = None) -> dict[str, Any]:
    """The control arm of ``loop`` (its therapist child trained and measured): returns the step's values."""
    from jedi_academy.loop.run import LoopOptions

    options = LoopOptions.from_dict(loop.options)
    if not options.control:
        return {"control": uncontrolled()}
    state: dict[str, Any] = dict(loop.control or {})
    if state.get("status") == UNCONTROLLED:  # a loop first run with --no-control stays uncontrolled
        return {"control": state}
    state.setdefault("status", "running")
    state.setdefault("steps", [])
    for step in SUBSTEPS:
        if step in state["steps"]:
            continue
        state.update(_SUBSTEPS[step](context, loop, state, echo))
        state["steps"] = [*state["steps"], step]
        if step != SUBSTEPS[-1]:
            _save(context, loop.id, state)
    state["status"] = "done"
    return {"control": state}


def _save(context: LoopContext, loop_id: str, state: dict[str, Any]) -> None:
    with context.database.session() as session:
        row = session.get(LoopRun, loop_id)
        assert row is not None
        row.control = dict(state)


def _conversations(context: LoopContext, loop: LoopRun, _state: dict[str, Any], _echo: Any) -> dict[str, Any]:
    """As many neutral conversations as the therapist's loop added, for the same persona."""
    from jedi_academy.loop.expansion import (
        ExpansionOptions,
        _answer,
        _exists,
        _store,
        expansion_id,
    )
    from jedi_academy.loop.run import expansion_inputs
    from jedi_academy.personas import persona_system_prompt

    inputs = expansion_inputs(context, loop)
    options, record, teacher, guards = inputs.options, inputs.record, inputs.teacher, inputs.guards
    generation = ExpansionOptions(temperature=options.temperature, max_tokens=options.max_tokens)
    teacher_info = {"backend": teacher.backend_name, "model": teacher.model_name}
    system = persona_system_prompt(context.database, record["persona_id"])
    name = _persona_name(context, record["persona_id"])
    script = neutral_script()
    wanted = len(loop.conversation_ids)
    ids: list[str] = []
    left_out: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    generated = existing = 0
    # session k's control starts at the placebo script's k-th session and cycles, like the experiment
    first = int(record.get("number") or 1) - 1
    for index in range(wanted):
        session_index = (first + index) % len(script["sessions"])
        seed = derive_seed(record["seed"], "control", index)
        conversation_id = expansion_id(record["session_id"], f"control-{index}", teacher_info, seed)
        if _exists(context.database, conversation_id):
            existing += 1
            ids.append(conversation_id)
            continue
        turns: list[tuple[str, str]] = []
        failed = None
        for position, line in enumerate(script["sessions"][session_index]):
            messages = [{"role": "system", "content": system}]
            for asked, answered in turns:
                messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
            messages.append({"role": "user", "content": line["therapist"]})
            answer, reasons = _answer(teacher, messages, name, guards, generation, seed, position)
            rejected.update(reasons)
            if answer is None:
                failed = reasons[-1]
                break
            turns.append((line["therapist"], answer))
        if not turns:
            left_out[failed or "empty"] += 1
            continue
        provenance = {
            "session_id": record["session_id"],
            "case_id": record["case_id"],
            "role": CONTROL_ORIGIN,
            "script": f"placebo/{script['version']}/session-{session_index + 1}",
            "teacher": teacher_info,
            "seed": seed,
            "generation": {"temperature": options.temperature, "max_tokens": options.max_tokens},
            "ended_early": failed,
            "contaminated": False,
            "guards": guards.describe(),
        }
        _store(context.database, conversation_id, record, CONTROL_ORIGIN, turns, provenance)
        generated += 1
        ids.append(conversation_id)
    if not ids:
        raise AcademyError(
            f"the control arm of session {loop.session_id} produced no usable conversation "
            f"(left out: {dict(left_out)})",
            "check the teacher model, or run this loop with --no-control (then it is uncontrolled)",
        )
    return {
        "conversation_ids": ids,
        "conversations": {
            "wanted": wanted, "generated": generated, "existing": existing,
            "left_out": dict(left_out), "rejected_answers": dict(rejected), "script": script["version"],
        },
    }  # fmt: skip


def _persona_name(context: LoopContext, persona_id: str) -> str:
    """The card's name: answers are cleaned of a leading "Name:" as in the expansion."""
    with context.database.session() as session:
        persona = session.get(Persona, persona_id)
        return str((persona.card if persona is not None else {}).get("name") or "")


def _merge(context: LoopContext, loop: LoopRun, state: dict[str, Any], _echo: Any) -> dict[str, Any]:
    from jedi_academy.loop.merge import merge_conversations

    with context.database.session() as session:
        case = session.get(Case, loop.case_id)
        assert case is not None
        specialization, persona = case.specialization_id, case.persona_id
    merged = merge_conversations(
        context.database,
        ArtifactStore(context.settings.data_dir),
        specialization,
        loop.parent_dataset_id,
        list(state["conversation_ids"]),
        persona,
    )
    return {"dataset_id": merged["dataset_id"], "merge": merged}


def _refine(context: LoopContext, loop: LoopRun, state: dict[str, Any], echo: Any) -> dict[str, Any]:
    """The same training call as the therapist child's (run.train_child), on the control's dataset."""
    from jedi_academy.loop.run import train_child

    training = train_child(context, loop, state["dataset_id"], echo, role="control")
    return {"checkpoint_id": training["checkpoint_id"], "training": training}


def _reassess(context: LoopContext, loop: LoopRun, state: dict[str, Any], echo: Any) -> dict[str, Any]:
    from jedi_academy.loop.run import measure_child

    assessment = measure_child(context, loop, state["checkpoint_id"], echo).as_dict()
    if state["checkpoint_id"] == loop.checkpoint_id:
        # the same adapter: neither arm's new conversations reached training (a persona the lineage holds out
        # for validation), so the comparison is empty rather than an effect of exactly zero
        reason = (
            "the control child is the therapist child: the session's conversations did not train it "
            f"(persona split {loop.expansion.get('merge', {}).get('persona_split')})"
        )
        empty = {instrument: no_effect(reason) for instrument in assessment["scores"]}
        return {"assessment": assessment, "therapist_effect": empty}
    return {"assessment": assessment, "therapist_effect": effects(loop.assessment, assessment)}


def effects(therapist: dict[str, Any], control: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per instrument: the therapist child's change minus the control child's (instruments/effect.py)."""
    from jedi_academy.instruments import load_instrument

    out: dict[str, dict[str, Any]] = {}
    for instrument, measured in (therapist.get("scores") or {}).items():
        other = (control.get("scores") or {}).get(instrument)
        if other is None:
            out[instrument] = no_effect("the control child was not measured on this instrument")
            continue
        spec = load_instrument(instrument).change
        out[instrument] = session_effect(
            measured,
            other,
            (therapist.get("previous_scores") or {}).get(instrument),
            higher_is_worse=spec.higher_is_worse if spec else True,
        )
    return out


_SUBSTEPS = {"conversations": _conversations, "merge": _merge, "refine": _refine, "reassess": _reassess}


@dataclass(frozen=True)
class TherapistEffect(Result):
    """A loop's therapist effect as its views show it (the loop record, a session row of the case's view)."""

    therapist_effect: dict[str, dict[str, Any]] | None  # per instrument (instruments/effect.py's shape)
    therapist_effect_reason: str | None  # why some or all of it is missing, else None
    control_checkpoint_id: str | None
    uncontrolled: bool  # the loop ran with --no-control: no effect, ever


def effect_fields(control: dict[str, Any] | None) -> TherapistEffect:
    """The therapist effect of a loop whose stored control arm is ``control`` (``loop_runs.control``)."""
    if not control:
        return TherapistEffect(None, "the control arm has not run yet", None, uncontrolled=False)
    if control.get("status") == UNCONTROLLED:
        reason = control.get("reason", UNCONTROLLED_REASON)
        return TherapistEffect(None, reason, None, uncontrolled=True)
    effect = control.get("therapist_effect")
    if control.get("status") != "done" or effect is None:
        return TherapistEffect(
            None, "the control arm has not finished", control.get("checkpoint_id"), uncontrolled=False
        )
    missing = [f"{i}: {e['reason']}" for i, e in effect.items() if e.get("effect") is None]
    reason = "; ".join(missing) or None
    return TherapistEffect(effect, reason, control.get("checkpoint_id"), uncontrolled=False)


def control_summary(control: dict[str, Any]) -> str:
    """The control step's line in the stage display."""
    from jedi_academy.instruments.effect import effect_text

    if control.get("status") == UNCONTROLLED:
        return str(control.get("reason", UNCONTROLLED_REASON))
    parts = [f"control {control.get('checkpoint_id')}"]
    for instrument, effect in (control.get("therapist_effect") or {}).items():
        parts.append(f"{instrument} therapist effect {effect_text(effect)}")
    return ", ".join(parts)
