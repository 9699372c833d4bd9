"""The synthetic sample dump: a few thousand comments in the exact RC_2015-01 schema, written by this
project.

Every author is called ``synthetic_<topic>_<n>`` and every body is built from the sentence templates below,
so nothing in the file comes from a real person. It covers the shipped specializations' subreddits and
unrelated ones, and the cases the keep rules and the scrubber must handle: deleted and removed bodies,
AutoModerator, distinguished comments, bodies too short, exact duplicates (also differing only in white
space), usernames, subreddit mentions, URLs, e-mail addresses and phone numbers.

Regenerate the shipped file with
``python -m jedi_academy.pipeline.sample_dump src/jedi_academy/pipeline/data/RC_2015-01-synthetic-sample.bz2``
(the output path is required: nothing at run time writes into the installed package).
"""

from __future__ import annotations

import bz2
import json
import random
from pathlib import Path
from typing import Any

SAMPLE_NAME = "RC_2015-01-synthetic-sample.bz2"
SAMPLE_PATH = Path(__file__).parent / "data" / SAMPLE_NAME
START_UTC = 1420070400  # 2015-01-01T00:00:00Z
MONTH_SECONDS = 31 * 24 * 3600

SUBREDDIT_IDS = {
    "depression": "t5_2qqqf", "Anxiety": "t5_2qmij", "socialanxiety": "t5_2qhx9", "ADHD": "t5_2qnwb",
    "autism": "t5_2qhmq", "aspergers": "t5_2qhpe", "ptsd": "t5_2qwrx", "CPTSD": "t5_2z3n5", "NPD": "t5_2ut0s",
    "narcissism": "t5_2rhkg", "AskReddit": "t5_2qh1i", "funny": "t5_2qh33", "gaming": "t5_2qh03",
    "worldnews": "t5_2qh13", "soccer": "t5_2qi58", "cooking": "t5_2qh7f",
}  # fmt: skip

OPENERS = [
    "Honestly I don't know where else to post this.", "Long time lurker, first post.",
    "This is going to be a bit of a ramble, sorry.", "I just need to get this out of my head.",
    "Reading this thread made me feel a little less alone.", "Throwaway feelings, same old me.",
]  # fmt: skip

TOPICS: dict[str, list[str]] = {
    "depression": [
        "Most mornings I lie in bed for an hour before I can make myself get up.",
        "I used to love painting and now the brushes just sit there collecting dust.",
        "My appetite is gone, I forget to eat until the evening and then I don't care.",
        "Work feels like wading through mud and I keep apologising for being slow.",
        "I cancelled on my friends again this weekend because I had nothing to give.",
        "Sleep is a mess, I wake up at four and stare at the ceiling until the alarm.",
        "Everything feels grey, even the things that are supposed to be good news.",
        "My therapist asked what I enjoy and I genuinely could not think of anything.",
    ],
    "anxiety": [
        "My heart races before every meeting even when I know the material cold.",
        "I rehearse phone calls in my head for an hour and then still don't make them.",
        "Every small pain turns into a spiral about what terrible illness it might be.",
        "I can't sit still in the evening, my legs bounce and my mind keeps looping.",
        "Ordering food at a counter makes my hands shake and my voice go quiet.",
        "I avoid the supermarket at busy times because the crowd makes me dizzy.",
        "My stomach knots up every Sunday night thinking about the week ahead.",
        "People say just relax but my body doesn't seem to get the message.",
    ],
    "adhd": [
        "I started four projects this week and finished none of them, again.",
        "I lose my keys so often that my partner bought me a tracker for each set.",
        "Reading a page takes me ten minutes because my mind wanders off every line.",
        "Deadlines only feel real the night before, then I panic and pull an all nighter.",
        "I interrupt people without meaning to and then replay it for days after.",
        "My desk is covered in half finished notes and reminders I never look at.",
        "Waiting in queues feels physically painful, I fidget until I leave.",
        "Medication helps with focus but the afternoons still fall apart.",
    ],
    "autism": [
        "Loud restaurants drain me completely, the noise and lights are too much.",
        "I prefer the same breakfast every day and a change in routine throws me off.",
        "Small talk at work feels like a script I never got a copy of.",
        "I notice patterns in numbers on licence plates that nobody else seems to see.",
        "People tell me I sound rude when I am just being direct about what I think.",
        "After a social event I need a full day alone to recover my energy.",
        "I can talk about train timetables for hours and forget others lost interest.",
        "Eye contact feels uncomfortable so I look at people's mouths instead.",
    ],
    "ptsd": [
        "Certain smells take me straight back and my body reacts before my mind does.",
        "I sit with my back to the wall in every cafe and watch the door.",
        "Nightmares wake me most nights and I am soaked in sweat when they do.",
        "I avoid driving on that road even if it adds twenty minutes to the trip.",
        "Loud bangs make me jump so hard that people around me stare.",
        "I feel numb and far away from my family even when we are together.",
        "I blame myself for what happened even though people tell me not to.",
        "Anniversaries are the worst, the whole week before I am on edge.",
    ],
    "narcissism": [
        "Growing up with a parent who needed to be the centre of everything was exhausting.",
        "I get furious when people don't recognise how much effort I put in.",
        "My ex said I only cared about how things made me look, it still stings.",
        "I know I am better at this job than my manager and it is hard to hide it.",
        "When someone criticises me I lie awake planning how to prove them wrong.",
        "I tend to drop friends once they stop being useful, and I hate that about me.",
        "Compliments feel amazing for an hour and then I need the next one.",
        "My therapist says I struggle to see other people's feelings as real.",
    ],
    "other": [
        "The second half of that match was unbelievable, what a comeback.",
        "Add a pinch of salt to the caramel and it changes everything.",
        "This patch finally fixed the frame rate issues on my old laptop.",
        "My cat knocked the whole plant off the shelf this morning.",
        "The article leaves out the most important part of the story.",
        "Best advice I got was to always read the instructions twice.",
    ],
}
SUBREDDITS = {
    "depression": ["depression"], "anxiety": ["Anxiety", "socialanxiety"], "adhd": ["ADHD"],
    "autism": ["autism", "aspergers"], "ptsd": ["ptsd", "CPTSD"], "narcissism": ["NPD", "narcissism"],
    "other": ["AskReddit", "funny", "gaming", "worldnews", "soccer", "cooking"],
}  # fmt: skip
PII_SNIPPETS = [
    "My old counsellor was /u/helpful_helper_99 if anyone wants to ask.",
    "Someone in r/AskReddit said the same thing.",
    "This guide helped me: https://example.org/coping-guide?page=2",
    "You can email me at synthetic.person@example.com if you want to talk.",
    "The crisis line I called was 555-867-5309, they were kind.",
]


def _body(rng: random.Random, topic: str) -> str:
    sentences = rng.sample(TOPICS[topic], k=rng.randint(2, 4))
    if rng.random() < 0.5:
        sentences.insert(0, rng.choice(OPENERS))
    if rng.random() < 0.12:
        sentences.append(rng.choice(PII_SNIPPETS))
    return " ".join(sentences)


def _comment(rng: random.Random, number: int, subreddit: str, author: str, body: str) -> dict[str, Any]:
    cid = f"cs{number:05d}"
    score = rng.randint(-3, 40)
    created = START_UTC + rng.randrange(MONTH_SECONDS)
    thread = f"t3_2s{rng.randrange(10**4):04d}"
    flair = "synthetic flair" if rng.random() < 0.3 else None
    record: dict[str, Any] = {
        "score_hidden": False, "name": f"t1_{cid}", "link_id": thread, "body": body, "downs": 0,
        "created_utc": str(created), "score": score, "author": author, "distinguished": None, "id": cid,
        "archived": False, "parent_id": thread, "subreddit": subreddit, "author_flair_css_class": None,
        "author_flair_text": flair, "gilded": 0, "retrieved_on": created + 4_000_000, "ups": score,
        "controversiality": 0, "subreddit_id": SUBREDDIT_IDS[subreddit], "edited": False,
    }  # fmt: skip
    keys = list(record)
    rng.shuffle(keys)  # key order differs from line to line in the real dump
    return {key: record[key] for key in keys}


def generate(lines: int = 4000, seed: int = 2015) -> list[dict[str, Any]]:
    """About a third of the comments fall in the specializations' subreddits; authors write several each."""
    rng = random.Random(seed)
    authors = {topic: [f"synthetic_{topic}_{n:03d}" for n in range(24)] for topic in TOPICS}
    comments = []
    for number in range(lines):
        topic = "other" if rng.random() < 0.65 else rng.choice([t for t in TOPICS if t != "other"])
        subreddit = rng.choice(SUBREDDITS[topic])
        author = rng.choice(authors[topic])
        body = _body(rng, topic)
        roll = rng.random()
        if roll < 0.03:
            body = rng.choice(["[deleted]", "[removed]"])
        elif roll < 0.05:
            author = "[deleted]"
        elif roll < 0.06:
            author = "AutoModerator"
        elif roll < 0.08:
            body = rng.choice(["Same.", "This.", "Thanks!", "lol yes"])
        comment = _comment(rng, number, subreddit, author, body)
        if roll > 0.99:
            comment["distinguished"] = "moderator"
        comments.append(comment)
        if 0.06 < roll < 0.075 and topic != "other":  # an exact repost, sometimes with different spacing
            again = _comment(
                rng, number + 50_000, subreddit, rng.choice(authors[topic]), body.replace(" ", "  ", 1)
            )
            comments.append(again)
    return comments


def write_sample(path: Path = SAMPLE_PATH, lines: int = 4000, seed: int = 2015) -> Path:
    payload = "".join(json.dumps(c, separators=(",", ":")) + "\n" for c in generate(lines, seed)).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bz2.compress(payload, compresslevel=9))
    return path


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m jedi_academy.pipeline.sample_dump",
        description="Write the synthetic RC_2015-01 sample dump (bz2 NDJSON) to OUT.",
    )
    parser.add_argument("out", type=Path, help=f"file to write (the shipped one is {SAMPLE_NAME})")
    parser.add_argument("--lines", type=int, default=4000, help="comments to generate (default 4000)")
    parser.add_argument("--seed", type=int, default=2015, help="seed (default 2015, the shipped file's)")
    args = parser.parse_args(argv)
    print(f"wrote {write_sample(args.out, args.lines, args.seed)}")


if __name__ == "__main__":
    main()
