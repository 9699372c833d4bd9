from __future__ import annotations

import json

from jedi_academy.reddit.prefilter import SubredditPrefilter
from tests.reddit.dumps import comment, ndjson


def candidates(prefilter: SubredditPrefilter, data: bytes) -> list[dict[str, object]]:
    return [json.loads(data[a:b]) for a, b in prefilter.candidate_lines(data, len(data))]


def test_matches_exact_names_case_insensitively() -> None:
    data = ndjson(
        [
            comment(1, subreddit="ADHD"),
            comment(2, subreddit="adhd"),
            comment(3, subreddit="ADHD_Memes"),  # a longer name with the same start
            comment(4, subreddit="depressionregimens"),
            comment(5, subreddit="AskReddit"),
            comment(6, subreddit="Depression"),
        ]
    )
    found = candidates(SubredditPrefilter(["ADHD", "depression"]), data)
    assert [c["id"] for c in found] == ["cn00001", "cn00002", "cn00006"]


def test_the_name_inside_a_body_does_not_match() -> None:
    data = ndjson([comment(1, subreddit="AskReddit", body='see "subreddit":"ADHD" here')])
    assert b'\\"subreddit\\":\\"ADHD\\"' in data  # escaped by JSON, so the raw bytes differ
    assert candidates(SubredditPrefilter(["ADHD"]), data) == []


def test_whitespace_around_the_colon_is_allowed() -> None:
    data = b'{"id": "a", "subreddit" : "ADHD", "body": "x"}\n{"id":"b","subreddit":"funny"}\n'
    assert [c["id"] for c in candidates(SubredditPrefilter(["adhd"]), data)] == ["a"]


def test_each_line_is_reported_once_with_exact_bounds() -> None:
    line = b'{"subreddit":"ADHD","replies":{"subreddit":"ADHD"}}'
    data = b"{}\n" + line + b"\n{}\n"
    spans = list(SubredditPrefilter(["ADHD"]).candidate_lines(data, len(data)))
    assert spans == [(3, 3 + len(line))]


def test_last_line_without_newline() -> None:
    data = b'{}\n{"subreddit":"ADHD"}'
    assert list(SubredditPrefilter(["ADHD"]).candidate_lines(data, len(data))) == [(3, len(data))]


def test_only_the_subreddit_key_counts() -> None:
    data = b'{"notsubreddit":"ADHD"}\n{"breddit":"ADHD"}\n{"subreddit":"ADHD"}\n'
    found = list(SubredditPrefilter(["ADHD"]).candidate_lines(data, len(data)))
    assert [data[a:b] for a, b in found] == [b'{"subreddit":"ADHD"}']
