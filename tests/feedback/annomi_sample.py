# ruff: noqa: E501  (CSV rows read best one per line)
"""A small transcript file in the AnnoMI column layout, written for these tests (invented text, no real
session). Two transcripts, 11 therapist utterances:

    utterance                                         gold              has "?"
    t1/0  What brings you in today?                    question          yes
    t1/2  Your doctor is worried about your drinking.  reflection        no
    t1/4  You're not sure it's a problem, and ...      reflection        no
    t1/6  How much do you drink in a usual week?       question          yes
    t1/8  The guideline is about fourteen drinks ...   therapist_input   no
    t1/10 Thank you for being so open with me.         other             no
    t2/0  Hello, good to meet you.                     other             no
    t2/2  So you've been feeling stressed at work?     reflection        yes
    t2/4  You could try taking short breaks.           therapist_input   no
    t2/6  It sounds like you've tried a lot ...        reflection        no
    t2/8  What would you like to try next?             question          yes

Gold counts: reflection 4, question 3, therapist_input 2, other 2 (n = 11).
"""

from __future__ import annotations

from pathlib import Path

HEADER = (
    "transcript_id,mi_quality,video_title,utterance_id,interlocutor,timestamp,utterance_text,"
    "main_therapist_behaviour,client_talk_type,reflection_subtype,question_subtype\n"
)
ROWS = [
    "demo-1,high,Invented A,0,therapist,00:00:01,What brings you in today?,question,n/a,n/a,open",
    'demo-1,high,Invented A,1,client,00:00:04,"My doctor said I drink too much, so here I am.",n/a,neutral,n/a,n/a',
    "demo-1,high,Invented A,2,therapist,00:00:09,Your doctor is worried about your drinking.,reflection,n/a,simple,n/a",
    "demo-1,high,Invented A,3,client,00:00:12,\"Yeah, but I don't think it's that bad.\",n/a,sustain,n/a,n/a",
    "demo-1,high,Invented A,4,therapist,00:00:15,\"You're not sure it's a problem, and you want to decide that "
    'for yourself.",reflection,n/a,complex,n/a',
    "demo-1,high,Invented A,5,client,00:00:20,Right.,n/a,neutral,n/a,n/a",
    "demo-1,high,Invented A,6,therapist,00:00:22,How much do you drink in a usual week?,question,n/a,n/a,open",
    "demo-1,high,Invented A,7,client,00:00:25,Maybe twenty beers.,n/a,neutral,n/a,n/a",
    'demo-1,high,Invented A,8,therapist,00:00:28,"The guideline is about fourteen drinks a week, spread out.",'
    "therapist_input,n/a,n/a,n/a",
    "demo-1,high,Invented A,9,client,00:00:33,Huh.,n/a,neutral,n/a,n/a",
    "demo-1,high,Invented A,10,therapist,00:00:35,Thank you for being so open with me.,other,n/a,n/a,n/a",
    'demo-2,low,Invented B,0,therapist,00:00:01,"Hello, good to meet you.",other,n/a,n/a,n/a',
    "demo-2,low,Invented B,1,client,00:00:03,Hi.,n/a,neutral,n/a,n/a",
    "demo-2,low,Invented B,2,therapist,00:00:05,So you've been feeling stressed at work?,reflection,n/a,simple,n/a",
    'demo-2,low,Invented B,3,client,00:00:08,"Very. It never stops.",n/a,neutral,n/a,n/a',
    "demo-2,low,Invented B,4,therapist,00:00:10,You could try taking short breaks.,therapist_input,n/a,n/a,n/a",
    "demo-2,low,Invented B,5,client,00:00:13,I tried that.,n/a,sustain,n/a,n/a",
    "demo-2,low,Invented B,6,therapist,00:00:15,\"It sounds like you've tried a lot, and you're tired of advice.\","
    "reflection,n/a,complex,n/a",
    "demo-2,low,Invented B,7,client,00:00:19,Exactly.,n/a,change,n/a,n/a",
    "demo-2,low,Invented B,8,therapist,00:00:21,What would you like to try next?,question,n/a,n/a,open",
]


def write_sample(path: Path, rows: list[str] | None = None, header: str = HEADER) -> Path:
    path.write_text(header + "\n".join(ROWS if rows is None else rows) + "\n", encoding="utf-8")
    return path
