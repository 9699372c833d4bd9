"""Therapist/patient conversations generated from persona cards, with the contamination guard.

Public API (import the modules directly; nothing heavy loads with the package)::

    conversations.generate.generate_conversations(database, llm, specialization, personas, bank, guard,
        guidance, options=None, *, progress=None) -> ConversationReport
    conversations.contamination.guard_for_specialization(specialization_id, instrument_ids=(), *,
        data_dir=None, settings=None) -> ContaminationGuard
    conversations.questions.load_question_bank(specialization) -> QuestionBank
"""
