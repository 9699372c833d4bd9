"""Running a session: the therapist speaks, the patient checkpoint answers, and at the end the recommendations
are found, put to the patient and drawn.

Crash safety: the therapist's utterance is committed before the patient is asked (``patient`` NULL), the reply
in a second transaction; ending is a sequence of committed steps (kinds and extraction, then each
recommendation's preference and draw, then the teacher's judgement of each accepted one, then the status),
each skipped when already done, so a killed process loses at most the reply or step it was in, and a re-run
produces what the first run would have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.limits import MAX_MESSAGE_CHARS
from jedi_academy.llm import GenerationParams
from jedi_academy.sessions import records
from jedi_academy.sessions.context import context_positions, token_counter
from jedi_academy.sessions.models import ModelPool, ModelSpec, PatientModel
from jedi_academy.sessions.preference import decide, preferences
from jedi_academy.sessions.prompts import (
    EXTRACTION_VERSION,
    PREFERENCE_VERSION,
    fit_conversation,
    preference_system_prompt,
    preference_variants,
)
from jedi_academy.sessions.recommendations import ExtractionOptions, classify_kinds, clean_text, extract
from jedi_academy.sessions.risk import risk_lexicon
from jedi_academy.sessions.seeds import derive_seed
from jedi_academy.store.ledger import append_record
from jedi_academy.store.models import Case, Persona, Recommendation, SessionTurn, TherapySession

if TYPE_CHECKING:
    from jedi_academy.sessions.views import RecommendationView, SessionView
    from jedi_academy.store import Database

TextSink = Callable[[str], None]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SessionOptions:
    """How the patient answers and how the session is closed; stored with the session, reused on resume."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 200
    preference_mode: str = "auto"  # auto (logprob where available) | logprob | sample
    preference_samples: int = 10
    extract: bool = True
    extraction: ExtractionOptions = field(default_factory=ExtractionOptions)
    # prompt plus reply, in tokens; None: the patient model's own positions
    context_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.preference_mode not in ("auto", "logprob", "sample"):
            raise AcademyError(
                f"unknown preference mode {self.preference_mode!r}", "use auto, logprob or sample"
            )
        GenerationParams(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens)
        if self.context_tokens is not None and self.context_tokens <= self.max_tokens:
            raise AcademyError(
                f"context_tokens {self.context_tokens} leaves no room for the prompt: it must be more than "
                f"max_tokens {self.max_tokens}"
            )

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        if record["context_tokens"] is None:  # the default leaves older sessions' records as they were
            del record["context_tokens"]
        return {
            **record,
            "preference_version": PREFERENCE_VERSION,
            "extraction_version": EXTRACTION_VERSION,
            "risk_version": risk_lexicon().version,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SessionOptions:
        known = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        if isinstance(known.get("extraction"), dict):
            known["extraction"] = ExtractionOptions(**known["extraction"])
        return cls(**known)


@dataclass(frozen=True)
class TurnResult:
    index: int
    therapist: str
    patient: str
    risk: list[dict[str, str]]


class SessionRunner:
    """One session of one case. Create with :meth:`start` or :meth:`open` (an existing session)."""

    def __init__(self, database: Database, pool: ModelPool, session_id: str) -> None:
        from jedi_academy.personas import persona_system_prompt

        self.database = database
        self.pool = pool
        with database.session() as session:
            row = records.get_session(session, session_id)
            case = session.get(Case, row.case_id)
            assert case is not None  # foreign key
            persona = session.get(Persona, case.persona_id)
            assert persona is not None
            self.session_id = row.id
            self.seed = row.seed
            self.options = SessionOptions.from_record(row.params)
            teacher: dict[str, Any] = {k: row.teacher.get(k) for k in ("backend", "model", "base_url")}
            self.teacher_spec = ModelSpec(**teacher)
            self.checkpoint_id = row.checkpoint_id
            self.card: dict[str, Any] = dict(persona.card)
            self.persona_id = persona.id
        self.persona_prompt = persona_system_prompt(database, self.persona_id)

    @cached_property
    def patient(self) -> PatientModel:
        """Loaded when first needed: a command refused by a lock (a second `session end`) says so at once,
        not after loading a model for minutes."""
        return self.pool.patient(self.database, self.checkpoint_id)

    # ------------------------------------------------------------------ opening

    @classmethod
    def start(
        cls,
        database: Database,
        pool: ModelPool,
        case_id: str,
        *,
        seed: int,
        mode: str = "interactive",
        options: SessionOptions | None = None,
        teacher: ModelSpec | None = None,
    ) -> SessionRunner:
        options = options or SessionOptions()
        teacher = teacher or pool.teacher_spec()
        from jedi_academy.sessions.loop_gate import refuse_if_loop_unfinished

        data_dir = pool.settings.data_dir
        with database.session() as session:
            case = records.get_case(session, case_id)
            refuse_if_loop_unfinished(session, case, data_dir)  # at once, before a model loads for minutes
            checkpoint_id = case.current_checkpoint_id
        patient = pool.patient(database, checkpoint_id)  # load (and check) the model before the row exists
        session_id = records.create_session(
            database,
            case_id,
            seed=seed,
            mode=mode,
            params=options.to_record(),
            patient=patient.record,
            teacher=teacher.describe(),
            data_dir=data_dir,
        )
        return cls(database, pool, session_id)

    @classmethod
    def open(cls, database: Database, pool: ModelPool, session_id: str) -> SessionRunner:
        return cls(database, pool, session_id)

    # ------------------------------------------------------------------ state

    def status(self) -> str:
        with self.database.session() as session:
            return records.get_session(session, self.session_id).status

    def turns(self) -> list[tuple[int, str, str | None]]:
        with self.database.session() as session:
            return [
                (t.index, t.therapist, t.patient) for t in records.session_turns(session, self.session_id)
            ]

    def _require_active(self) -> None:
        status = self.status()
        if status != "active":
            raise AcademyError(f"session {self.session_id} is {status}; it takes no more turns")

    # ------------------------------------------------------------------ turns

    def say(
        self,
        text: str,
        *,
        recommendations: Sequence[str] = (),
        on_text: TextSink | None = None,
        on_stored: Callable[[], None] | None = None,
    ) -> TurnResult:
        """The therapist says ``text`` (marking ``recommendations`` with it); returns the patient's reply.
        ``on_stored`` is called once the therapist's words are committed, before the patient answers."""
        self.finish_pending()
        self.store_turn(text, recommendations)
        if on_stored is not None:
            on_stored()
        result = self.finish_pending(on_text)
        assert result is not None
        return result

    def store_turn(self, text: str, recommendations: Sequence[str] = ()) -> int:
        """Commit the therapist's words (the patient answers them with :meth:`finish_pending`); refused, with
        nothing stored, when the last turn still waits for its reply. Returns the turn's index."""
        text = clean_text(text)
        if not text:
            raise AcademyError("the therapist's turn is empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise AcademyError(
                f"the message is {len(text):,} characters; a turn holds at most {MAX_MESSAGE_CHARS:,}",
                "split it into shorter turns",
            )
        self._require_active()
        with self.database.session() as session:
            earlier = records.session_turns(session, self.session_id)
            history = [(t.therapist, t.patient) for t in earlier]
            dropped_before = earlier[-1].context_dropped if earlier else 0
        if history and history[-1][1] is None:
            raise AcademyError("the patient has not answered the last message yet")
        self._fit(history, text, dropped_before)  # before storing
        risk = [{"speaker": "therapist", "category": c} for c in risk_lexicon().scan(text)]
        with self._one_writer(), self.database.session() as session:
            index = len(records.session_turns(session, self.session_id))
            session.add(
                SessionTurn(
                    session_id=self.session_id,
                    index=index,
                    therapist=text,
                    patient=None,
                    seed=derive_seed(self.seed, "reply", index),
                    risk=risk,
                )
            )
            self._flag(session, index, risk)
            for recommendation in recommendations:
                self._add_recommendation(session, index, recommendation, "therapist")
        return index

    def withdraw_pending(self) -> str | None:
        """Take back the therapist's last words while the patient has not answered them (a cancelled wait):
        the turn, its risk flags and recommendations go. Returns the words; None when nothing was pending."""
        with self.database.session() as session:
            turns = records.session_turns(session, self.session_id)
            if not turns or turns[-1].patient is not None:
                return None
            pending = turns[-1]
            for recommendation in records.session_recommendations(session, self.session_id):
                if recommendation.turn == pending.index:
                    session.delete(recommendation)
            row = session.get(TherapySession, self.session_id)
            assert row is not None
            row.flags = [flag for flag in row.flags if flag.get("turn") != pending.index]
            session.delete(pending)
            return pending.therapist

    @contextmanager
    def _one_writer(self) -> Iterator[None]:
        """Two processes adding a turn to one session: the second gets a clear error, not a traceback."""
        from sqlalchemy.exc import IntegrityError

        try:
            yield
        except IntegrityError as exc:
            raise AcademyError(
                f"session {self.session_id} was changed by another process at the same time",
                "run one `academy session` command per session; `academy session show` has what was stored",
            ) from exc

    def finish_pending(self, on_text: TextSink | None = None) -> TurnResult | None:
        """Answer a therapist turn that has no reply yet (after a crash or Ctrl-C); None if there is none."""
        with self.database.session() as session:
            turns = records.session_turns(session, self.session_id)
            if not turns or turns[-1].patient is not None:
                return None
            pending = turns[-1]
            history = [(t.therapist, t.patient) for t in turns[:-1]]
            dropped_before = turns[-2].context_dropped if len(turns) > 1 else 0
            index, therapist_text, seed = pending.index, pending.therapist, pending.seed
        conversation, dropped = self._fit(history, therapist_text, dropped_before)
        params = GenerationParams(
            temperature=self.options.temperature,
            top_p=self.options.top_p,
            max_tokens=self.options.max_tokens,
            seed=seed,
        )
        started = datetime.now(UTC)
        reply = self._generate(conversation, params, on_text).strip()
        risk = [{"speaker": "patient", "category": c} for c in risk_lexicon().scan(reply)]
        with self.database.session() as session:
            row = session.get(SessionTurn, pending.id)
            assert row is not None
            row.patient = reply
            row.risk = [*row.risk, *risk]
            row.context_dropped = dropped
            row.seconds = (datetime.now(UTC) - started).total_seconds()
            self._flag(session, index, risk)
            all_risk = list(row.risk)
        self._prepare_next([*history, (therapist_text, reply)], dropped)
        return TurnResult(index, therapist_text, reply, all_risk)

    def _prepare_next(self, history: Sequence[tuple[str, str | None]], dropped: int) -> None:
        """Let a model that can (the web app's batching one) prefill the next turn's prompt, all of it but the
        therapist's coming words, while the therapist reads the reply."""
        prepare = getattr(self.patient.llm, "prepare", None)
        if prepare is None:
            return
        try:
            conversation, _dropped = self._fit(history, "", dropped)
            prepare(conversation, adapter=self.patient.adapter, key=self.session_id)
        except AcademyError:  # nothing more fits: the next message will be cut or refused, as it will say
            return

    def _fit(
        self, history: Sequence[tuple[str, str | None]], text: str, dropped_before: int
    ) -> tuple[Any, int]:
        """The patient's prompt for ``text`` within the context, leaving room for the reply, without the
        turns the last reply was written without (``dropped_before``) at least. Storing a turn and answering
        it fit the same history and words: the second fit's counts come from the chat format's kept
        encodings."""
        llm = self.patient.llm
        context = self.options.context_tokens or context_positions(llm)
        return fit_conversation(
            self.persona_prompt,
            history,
            text,
            budget_tokens=context - self.options.max_tokens,
            count_tokens=token_counter(llm),
            dropped_before=dropped_before,
        )

    def _generate(self, conversation: Any, params: GenerationParams, on_text: TextSink | None) -> str:
        llm, adapter = self.patient.llm, self.patient.adapter
        stream = getattr(llm, "stream_generate", None)
        if on_text is not None and stream is not None:
            return stream(conversation, params, on_text, adapter=adapter)
        text = llm.generate([conversation], params, adapter=adapter)[0]
        if on_text is not None:
            on_text(text)
        return text

    def _flag(self, session: Any, index: int, risk: list[dict[str, str]]) -> None:
        if not risk:
            return
        row = session.get(TherapySession, self.session_id)
        lexicon = risk_lexicon()
        row.flags = [
            *row.flags,
            *({"turn": index, **r, "label": lexicon.label(r["category"])} for r in risk),
        ]

    # ------------------------------------------------------------------ recommendations

    def _add_recommendation(
        self, session: Any, turn: int, text: str, source: str, kind: str | None = None
    ) -> RecommendationView:
        count = len(records.session_recommendations(session, self.session_id))
        row = Recommendation(
            session_id=self.session_id,
            index=count,
            turn=turn,
            text=text,
            kind=kind,
            source=source,
            phrasings=[],
        )
        session.add(row)
        session.flush()
        return records.recommendation_json(row)

    def mark(self, text: str | None = None, turn: int | None = None) -> RecommendationView:
        """Mark a recommendation the therapist made: ``text`` (default: that turn's words) at ``turn``
        (default: the last therapist turn)."""
        self._require_active()
        with self._one_writer(), self.database.session() as session:
            turns = records.session_turns(session, self.session_id)
            if not turns:
                raise AcademyError("nothing has been said yet; a recommendation belongs to a therapist turn")
            chosen = turns[-1] if turn is None else next((t for t in turns if t.index == turn), None)
            if chosen is None:
                raise AcademyError(f"session {self.session_id} has no turn {turn}")
            words = clean_text(text) if text else chosen.therapist
            if not words:
                raise AcademyError("the recommendation is empty")
            return self._add_recommendation(session, chosen.index, words, "therapist")

    # ------------------------------------------------------------------ ending

    def end(self, progress: Progress | None = None) -> SessionView:
        """Close the session: finish a pending reply, extract and classify recommendations, put each to the
        patient and draw its decision. Safe to call again after a crash: finished steps are skipped."""
        from jedi_academy.store import case_lock

        with self.database.session() as session:
            case_id = records.get_session(session, self.session_id).case_id
        # One writer per case: two `session end` of one session (two terminals, the browser and a terminal)
        # would both pass the status check below and append the session to the ledger twice.
        with case_lock(self.pool.settings.data_dir, case_id, "session end"):
            return self._end_locked(progress)

    def _end_locked(self, progress: Progress | None) -> SessionView:
        say = progress or (lambda _text: None)
        if self.status() == "ended":
            return records.session_json(self.database, self.session_id)
        self.finish_pending()
        with self.database.session() as session:
            records.get_session(session, self.session_id).status = "ending"
        self._extract(say)
        self._decide(say)
        self._judge(say)
        with self.database.session() as session:
            row = records.get_session(session, self.session_id)
            row.status = "ended"
            row.ended_at = datetime.now(UTC)
            append_record(session, row)
        return records.session_json(self.database, self.session_id)

    def _extract(self, say: Progress) -> None:
        with self.database.session() as session:
            if records.get_session(session, self.session_id).extraction is not None:
                return
            turns = [(t.index, t.therapist) for t in records.session_turns(session, self.session_id)]
            marked = [(r.id, r.text) for r in records.session_recommendations(session, self.session_id)]
        extracting = self.options.extract and bool(turns)
        teacher = self.pool.get(self.teacher_spec) if marked or extracting else None
        kinds = (
            classify_kinds(teacher, [text for _, text in marked], seed=derive_seed(self.seed, "kinds"))
            if teacher is not None
            else []
        )
        if teacher is not None and extracting:
            say("the teacher reads the therapist's turns for recommendations ...")
            found, record = extract(
                teacher,
                turns,
                [text for _, text in marked],
                seed=derive_seed(self.seed, "extract"),
                options=self.options.extraction,
            )
        else:
            found, record = [], {"skipped": True}
        with self.database.session() as session:
            for (rec_id, _), kind in zip(marked, kinds, strict=True):
                row = session.get(Recommendation, rec_id)
                if row is not None and row.kind is None:
                    row.kind = kind
            for item in found:
                self._add_recommendation(session, item.turn, item.text, "extracted", kind=item.kind)
            records.get_session(session, self.session_id).extraction = record

    def preference_context(self, recommendations: Sequence[str] = ()) -> list[dict[str, str]]:
        """What the patient sees when asked about a recommendation: persona (with its resistances and stage
        of change) and the session, within the same token budget as a turn's prompt: the oldest turns are
        left out until the context plus the longest question asked about ``recommendations`` fits, so a long
        session is never read whole."""
        from jedi_academy.personas.intake import card_resistances, card_stage_of_change

        system = preference_system_prompt(
            self.persona_prompt, card_resistances(self.card), card_stage_of_change(self.card)
        )
        history = [(therapist, patient) for _, therapist, patient in self.turns()]
        questions = [question for text in recommendations for question, _, _ in preference_variants(text)]
        longest = max(questions, key=len, default="")
        llm = self.patient.llm
        context = self.options.context_tokens or context_positions(llm)
        fitted, _dropped = fit_conversation(
            system,
            history,
            longest,
            budget_tokens=context - self.options.max_tokens,
            count_tokens=token_counter(llm),
        )
        return fitted[:-1]  # the question itself is added per phrasing

    def _decide(self, say: Progress) -> None:
        with self.database.session() as session:
            todo = [
                (r.id, r.index, r.text)
                for r in records.session_recommendations(session, self.session_id)
                if r.mode is None
            ]
        if not todo:
            return
        say(f"asking the patient about {len(todo)} recommendation(s) ...")
        context = self.preference_context([text for _, _, text in todo])
        for rec_id, index, text in todo:
            [preference] = preferences(
                self.patient.llm,
                context,
                [text],
                self.patient.adapter,
                session_seed=self.seed,
                first_index=index,
                samples=self.options.preference_samples,
                mode=self.options.preference_mode,
            )
            decision = decide(self.seed, index, preference.p_accept, preference.mass)
            with self.database.session() as session:
                row = session.get(Recommendation, rec_id)
                assert row is not None
                row.mode = preference.mode
                row.phrasings = preference.phrasings
                row.p_accept = decision.p_accept
                row.u = decision.u
                row.accepted = decision.accepted
                row.preference_mass = decision.mass
                row.decision = decision.decision

    def _judge(self, say: Progress) -> None:
        """The teacher judges each accepted recommendation for this persona (helpful, neutral, harmful);
        the loop's follow-up outcome depends on it. One committed step per recommendation."""
        from jedi_academy.sessions.advice import judge_advice

        with self.database.session() as session:
            todo = [
                (r.id, r.index, r.text)
                for r in records.session_recommendations(session, self.session_id)
                if r.accepted is True and r.advice is None
            ]
        if not todo:
            return
        say(f"the teacher judges {len(todo)} accepted recommendation(s) for this patient ...")
        teacher = self.pool.get(self.teacher_spec)
        info = {"backend": teacher.backend_name, "model": teacher.model_name}
        for rec_id, index, text in todo:
            record = judge_advice(
                teacher, self.card, text, seed=derive_seed(self.seed, "advice", index), teacher_info=info
            )
            with self.database.session() as session:
                row = session.get(Recommendation, rec_id)
                assert row is not None
                row.advice = record
