"""The plain-language statement every portfolio carries: what it proves and what it does not."""

from __future__ import annotations

STATEMENT: dict[str, list[str]] = {
    "proves": [
        "These sessions happened on this academy instance, with the simulated patients (model checkpoints) "
        "named here, and were recorded before this portfolio was signed: every record is linked into the "
        "instance's hash chain, and the chain head is signed with the instance's key.",
        "Every score and summary figure on this page follows from the records included in the bundle; "
        "`academy portfolio verify` recomputes them, and with the adapters and the base model "
        "`--recompute` re-runs the questionnaires and gets the same numbers.",
        "Nothing was changed after signing: altering one byte of a record, a figure or the signature makes "
        "verification fail and names what was altered.",
    ],
    "does_not_prove": [
        "Clinical competence with human clients. The patients are language models conditioned on persona "
        "cards built from public posts; they are not people, and their questionnaire answers are model "
        "probabilities, not symptoms.",
        "That the therapist chose cases fairly: a therapist publishes the cases they select. How many cases "
        "they opened, why each one not shown was left out, and the reference figures (scripted placebo and "
        "skilled therapists on the same personas) are shown and sealed so a reader can judge, but the "
        "left-out cases themselves are not visible.",
        "That the instance's operator is honest: the signature shows which instance vouches for the "
        "records, not that its operator could not have rewritten its own chain before signing. Signed heads "
        "(in the instance's heads file and in every portfolio) pin the history up to them: two portfolios "
        "of one instance can be checked against each other for a fork or a rollback.",
        "Who signed it, unless you check the key: anyone can sign a portfolio with a key of their own. Take "
        "the academy's key from where the academy publishes it, not from the portfolio.",
        "That the therapist would help a real client: the therapist effect compares two children of one "
        "simulated patient model (the sessions against neutral conversations, same training budget); its "
        "interval covers measurement noise, not how another training seed would have moved either child.",
        "Anything about a single real person: no persona card, source comment or pseudonym is included.",
    ],
}
