"""The streaming rules as pure functions: commits inside long utterances, cuts, seams and
the partial cadence. No engine, no threads: milliseconds."""

from __future__ import annotations

import numpy as np
import pytest

from livewhisper.events import Word
from livewhisper.gate import StreamConfig
from livewhisper.policy import (
    commit_count,
    cut_point,
    drop_repeated_start,
    next_partial_due,
)

CONFIG = StreamConfig(commit_after=3.0, commit_span=8.0)


def _words(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    return [
        Word(f" {w}", start + i * step, start + (i + 1) * step, 0.9)
        for i, w in enumerate(text.split())
    ]


def _count(agreed: str, pending: str = "", heard: float = 5.0, start: float = 0.0) -> int:
    a = _words(agreed, start)
    p = _words(pending, start + len(a) * 0.4)
    return commit_count(a, p, window_start=start, heard=heard, config=CONFIG)


def test_a_closed_sentence_is_committed_once_the_window_is_long_enough() -> None:
    assert _count("Ask not. What your", heard=5.0) == 2
    assert _count("Ask not. What your", heard=2.9) == 0  # ordinary dictation: wait the pause
    # The last sentence that another word follows, agreed or pending.
    assert _count("One. Two. Three.", "Four", heard=5.0) == 3
    assert _count("One. Two. Three.", heard=5.0) == 2


def test_a_period_on_the_newest_word_is_not_trusted() -> None:
    # Whisper closes audio cut mid-phrase with a period: nothing follows it yet.
    assert _count("And so my fellow Americans.", heard=6.0) == 0


def test_titles_and_initials_do_not_end_sentences() -> None:
    assert _count("And Mr. Dashwood had", heard=6.0) == 0
    assert _count("John F. Kennedy said", heard=6.0) == 0


def test_a_long_window_commits_without_a_sentence_end() -> None:
    # Past commit_span: at the last clause end in the second half, else everything.
    assert _count("one two three four, five six", heard=8.5) == 4
    assert _count("one, two three four five six", heard=8.5) == 6
    assert _count("one two three four five six", heard=7.9) == 0
    assert _count("", heard=20.0) == 0


def test_decodes_that_keep_disagreeing_still_commit_what_is_old_enough() -> None:
    # Nothing agreed after 9 s (crosstalk): the newest decode's words heard over 2 s ago
    # become final, so the window, and the cost of each partial, stays bounded.
    words = "a b c d e f g h i j k l m n o p q r s t"  # 0.4 s each: 0-8 s
    assert _count("", words, heard=9.0) == 17  # those ending by 7.0 s
    assert _count("", words, heard=7.5) == 0  # before commit_span: wait for agreement
    assert _count("a b", "c d, e f g h i j k", heard=9.0) == 11  # all settled, no late clause
    assert _count("a b", "c d e f g h i j, k l m n o p q r", heard=9.0) == 10  # a late clause


def test_the_window_is_measured_from_the_last_cut() -> None:
    assert _count("Ask not. What", heard=14.0, start=12.0) == 0
    assert _count("Ask not. What", heard=15.5, start=12.0) == 2


def test_commit_span_must_not_be_shorter_than_commit_after() -> None:
    from livewhisper.errors import ConfigError

    with pytest.raises(ConfigError, match="commit_span"):
        StreamConfig(commit_after=5.0, commit_span=4.0)


def test_the_cut_falls_in_the_quiet_between_two_words() -> None:
    rate = 16000
    tone = 0.3 * np.sin(np.arange(rate) * 2 * np.pi * 220 / rate).astype(np.float32)
    audio = np.concatenate([tone[:16000], np.zeros(3200, np.float32), tone[:16000]])  # 1 s, gap
    start = 10.0
    last = Word(" you.", 10.6, 1.02 + start, 0.9)  # timed a little past the gap's start
    following = Word(" Ask", 11.15, 11.6, 0.9)
    at = cut_point(audio, start, last, following)
    assert 11.0 <= at <= 11.2  # inside the 1.0-1.2 s silence
    # Words timed half a second late, as whisper.cpp does after a pause: still the silence.
    late_last = Word(" you.", 11.1, 11.5, 0.9)
    late_next = Word(" Ask", 11.6, 12.0, 0.9)
    assert 11.0 <= cut_point(audio, start, late_last, late_next) <= 11.2
    # No following word: still near the last word's end, inside the audio.
    at = cut_point(audio, start, last, None)
    assert 10.85 <= at <= 11.2
    # Words timed past the audio: never past its end.
    late = Word(" x", 12.0, 13.0, 0.9)
    assert cut_point(audio, start, late, None) <= start + len(audio) / rate


def test_a_pause_is_ten_decibels_below_the_speech() -> None:
    from livewhisper.policy import is_pause

    tone = 0.3 * np.sin(np.arange(RATE) * 2 * np.pi * 220 / RATE).astype(np.float32)
    audio = np.concatenate([tone, np.zeros(3200, np.float32), tone])
    assert is_pause(audio, 5.0, 6.1)  # the middle of the 0.2 s gap
    assert not is_pause(audio, 5.0, 5.5)  # inside the tone
    assert not is_pause(tone, 0.0, 0.5)  # a steady sound has no pause
    assert not is_pause(audio[:800], 0.0, 0.02)  # too short to tell


def test_a_word_heard_on_both_sides_of_a_cut_is_dropped_once() -> None:
    said = _words("ask not what your country can do for you.")
    cut = said[-1].end
    again = [Word(" you.", cut - 0.1, cut + 0.2, 0.8), *_words("Ask what you", cut + 0.3)]
    assert [w.word for w in drop_repeated_start(again, said, cut)] == [" Ask", " what", " you"]
    # Far from the cut a repeat is speech ("for you, for you"), and is kept.
    later = _words("for you", cut + 2.0)
    assert drop_repeated_start(later, said, cut) == later
    assert drop_repeated_start(again, [], cut) == again
    # A longer re-heard run is found after the rest of a word cut in two, or with one
    # word in three heard otherwise on this side of the cut.
    reheard = _words("try can do for you. Ask", cut - 1.0)
    assert [w.word for w in drop_repeated_start(reheard, said, cut)] == [" Ask"]
    otherwise = _words("country can do for him. Ask", cut - 1.0)
    assert [w.word for w in drop_repeated_start(otherwise, said, cut)] == [" Ask"]
    split = _words("country can do four you. Ask", cut - 1.0)  # "for" heard as "four you"
    assert [w.word for w in drop_repeated_start(split, said, cut)] == [" Ask"]
    # Words that only resemble the end of the final stay: two in a row are not enough.
    unlike = _words("can you ask", cut + 0.2)
    assert drop_repeated_start(unlike, said, cut) == unlike


def test_the_partial_cadence_follows_the_cost_of_decodes() -> None:
    assert next_partial_due(10.0, 0.25, 0.25, 0.0, 2.0) == pytest.approx(11.0)
    assert next_partial_due(10.0, 0.4, 0.25, 0.0, 2.0) == pytest.approx(11.6)  # busy: sparser
    assert next_partial_due(10.0, 0.1, 0.25, 12.5, 2.0) == 12.5  # never sooner than due
    # Never stale for long: a decode of 1 s (a busy machine) holds back 2 s, not 4 s.
    assert next_partial_due(10.0, 1.0, 0.25, 0.0, 2.0) == pytest.approx(12.0)


# -- the policy object, on recorded decode results -----------------------------------------

RATE = 16000


def _result(text: str, start: float = 0.0, step: float = 0.4, sure: float = 0.9):
    """A decode result as the engine gives it: one segment, words in chunk time."""
    from livewhisper.events import Segment, Transcription

    words = tuple(_words(text, start, step))
    end = words[-1].end if words else start
    segment = Segment(" " + text, start, end, words, -0.2, sure)
    return Transcription((segment,) if words else (), "en", end)


def _policy(sized_finals: bool = True, **stream: object):
    from livewhisper.engine import DecodeOptions
    from livewhisper.policy import StreamPolicy

    return StreamPolicy(
        StreamConfig(**stream),
        DecodeOptions(language="en"),
        sized_finals=sized_finals,  # type: ignore[arg-type]
    )


def _partial(utterance: int, seconds: float, start: float = 0.0, early: bool = False):
    from livewhisper.gate import PartialJob

    audio = np.full(round(seconds * RATE), 0.01, np.float32)
    return PartialJob(utterance, audio, start, arrival=100.0, early=early)


def _final(utterance: int, seconds: float, speech_end: float, start: float = 0.0):
    from livewhisper.gate import FinalJob

    audio = np.full(round(seconds * RATE), 0.01, np.float32)
    return FinalJob(utterance, audio, start, speech_end, arrival=100.0)


def test_a_final_reuses_a_partial_that_heard_all_its_speech() -> None:
    from livewhisper.events import Final
    from livewhisper.policy import Decode, Reuse

    policy = _policy(sentence_confidence=None)
    early = _partial(1, 2.5, early=True)
    step = policy.plan(early)
    assert isinstance(step, Decode) and step.cancellable
    assert step.options.audio_ctx and step.options.max_tokens  # sized and capped: quick
    assert policy.partial_done(early, _result("go forward ten"), 0.2, 101.0)
    reuse = policy.plan(_final(1, 3.2, speech_end=2.3))
    assert isinstance(reuse, Reuse)
    (final,) = policy.final_done(reuse.job, reuse.result, 102.0)
    assert isinstance(final, Final) and final.text == "go forward ten"
    assert final.latency == pytest.approx(2.0)
    assert policy.final_until == final.end > 0.0
    # Speech past what the partial heard: decoded again, with a final's care.
    policy.partial_done(early, _result("go forward ten"), 0.2, 101.0)
    again = policy.plan(_final(1, 3.2, speech_end=2.6))
    assert isinstance(again, Decode) and not again.cancellable
    assert again.options.temperature_increment > 0 and not again.options.max_tokens
    assert policy.stats.reused == 1


def test_the_partial_budget_holds_back_partials_after_a_costly_decode() -> None:
    policy = _policy(partial_budget=0.25)
    first = _partial(1, 2.0)
    policy.partial_done(first, _result("ask not"), 0.5, 101.0)  # next not before 4.0 s
    assert policy.plan(_partial(1, 3.0)) is None
    assert policy.plan(_partial(1, 4.0)) is not None
    assert policy.plan(_partial(1, 3.0, early=True)) is not None  # early decodes never wait
    assert policy.plan(_partial(2, 1.0, start=5.0)) is not None  # a new utterance starts over
    assert policy.stats.over_budget == 1


def test_a_quick_final_comes_once_the_pause_holds_however_slow_the_decode() -> None:
    from livewhisper.events import Final
    from livewhisper.gate import PauseHeld, SpeechResumed
    from livewhisper.policy import WaitForPause

    for resumed_first in (False, True):
        policy = _policy(sentence_confidence=0.7)
        early = _partial(1, 2.5, early=True)
        if not resumed_first:
            # Held, then speech came back, all before the (slow) decode ended.
            policy.signal(PauseHeld(1, 2.6, 0.3))
            policy.signal(SpeechResumed(1, 2.9))
        wait = policy.partial_done(early, _result("Go forward ten meters."), 0.9, 101.0)
        assert isinstance(wait, WaitForPause)
        if resumed_first:
            assert policy.pause(early, 0.3) is None  # not known yet: the worker waits
            policy.signal(SpeechResumed(1, 2.7))
            policy.signal(PauseHeld(1, 2.8, 0.3))  # too late: speech came back first
        held = policy.pause(early, 0.3)
        assert held is (not resumed_first)
        events = policy.after_pause(wait, bool(held), 102.0)
        assert isinstance(events, list) and len(events) == 1
        if resumed_first:
            assert type(events[0]).__name__ == "Partial"
            assert policy.settled is None
        else:
            assert isinstance(events[0], Final)
            # Later decodes hear only what follows, and a 0.3 s pad before it.
            assert policy.settled == (1, pytest.approx(2.2))


def test_a_slow_early_decode_is_judged_by_the_signals_that_followed_its_audio() -> None:
    from livewhisper.gate import PauseHeld, SpeechResumed

    policy = _policy()
    early = _partial(1, 2.5, early=True)
    # Its pause held, speech resumed, and the next pause held too, all before it ran.
    for signal in (PauseHeld(1, 2.8, 0.3), SpeechResumed(1, 3.2), PauseHeld(1, 6.0, 0.3)):
        policy.signal(signal)
    assert policy.pause(early, 0.3) is True
    later = _partial(1, 5.7, early=True)
    assert policy.pause(later, 0.3) is True
    policy.signal(SpeechResumed(1, 6.5))
    assert policy.pause(_partial(1, 6.2, early=True), 0.3) is False  # resumed before it held


def test_an_early_decode_withdrawn_in_the_queue_is_not_decoded() -> None:
    from livewhisper.gate import SpeechResumed

    policy = _policy()
    policy.signal(SpeechResumed(1, 2.7))
    assert policy.plan(_partial(1, 2.5, early=True)) is None
    assert policy.plan(_partial(1, 2.5)) is not None  # an ordinary partial is not withdrawn
    assert policy.stats.withdrawn == 1


def test_a_long_utterance_commits_its_agreed_sentences() -> None:
    from livewhisper.events import Final, Partial
    from livewhisper.policy import Commit, Decode

    policy = _policy(commit_after=3.0, commit_span=8.0)
    text = "Ask not what your country can do. For you ask"
    assert policy.partial_done(_partial(1, 4.0), _result(text), 0.2, 101.0)
    # No pause near the sentence end yet: the commit waits (a cut inside a word garbles
    # the words on both sides of it).
    steady = _partial(1, 4.4)
    assert not isinstance(policy.partial_done(steady, _result(text + " what"), 0.2, 101.2), Commit)
    paused = _partial(1, 4.4)
    paused.audio[round(2.6 * RATE) : round(2.8 * RATE)] = 0.0  # after " do."
    commit = policy.partial_done(paused, _result(text + " what"), 0.2, 101.4)
    assert isinstance(commit, Commit)
    assert 2.6 <= commit.at <= 2.8  # in the pause
    assert not commit.decode.cancellable and commit.decode.job.early
    # While the commit decodes, the decode that prompted it is on screen.
    (shown,) = commit.shown
    assert isinstance(shown, Partial) and shown.text == text + " what"
    assert shown.emitted_at == 101.4 and policy.shown_until == pytest.approx(4.4)
    # Its decode hears the audio before the cut, and all it says is final.
    assert commit.decode.job.end == pytest.approx(commit.at + 0.05, abs=1e-3)
    events = policy.commit_done(commit, _result("Ask not what your country can do."), 102.0)
    assert [type(e) for e in events] == [Final, Partial]
    assert events[0].text == "Ask not what your country can do."
    assert events[1].text == "For you ask what" and events[1].emitted_at == 102.0
    assert policy.settled == (1, pytest.approx(commit.at - 0.3))
    assert policy.stats.committed == 1
    assert policy.shown_until == pytest.approx(4.4)
    # Later decodes of the utterance hear only what follows the cut; the word decoded on
    # both sides of it is said once.
    later = policy.plan(_partial(1, 7.0))  # past the budget of the last two partials
    assert isinstance(later, Decode)
    assert later.job.start == pytest.approx(commit.at - 0.3, abs=1e-3)  # a pad before the cut
    seam = _result("country can do. For you ask what you can", start=-0.3)
    (partial,) = policy.partial_done(later.job, seam, 0.2, 103.0)  # type: ignore[misc]
    assert partial.text == "For you ask what you can"
    # The utterance's final covers only the rest.
    final_step = policy.plan(_final(1, 8.0, speech_end=7.5))
    assert isinstance(final_step, Decode) and final_step.job.start == later.job.start
    (last,) = policy.final_done(final_step.job, _result("For you ask what you can do."), 104.0)
    assert last.text == "For you ask what you can do." and policy.settled is None


def test_a_commit_whose_decode_trails_off_is_not_made() -> None:
    # A stop's closure inside a word can pass for a pause: the decode of the audio before
    # such a cut ends cut off ("... the Acoustic Qu..."), and a final there would lose or
    # repeat the words on both sides of it.
    from dataclasses import replace

    from livewhisper.events import Final, Partial
    from livewhisper.policy import Commit

    policy = _policy(commit_after=3.0, commit_span=8.0)
    text = "Ask not what your country can do. For you ask"
    policy.partial_done(_partial(1, 4.0), _result(text), 0.2, 101.0)

    def paused(seconds: float, quiet: tuple[float, float] = (2.6, 2.8)):
        job = _partial(1, seconds)
        job.audio[round(quiet[0] * RATE) : round(quiet[1] * RATE)] = 0.0
        return job

    commit = policy.partial_done(paused(4.4), _result(text + " what"), 0.2, 101.4)
    assert isinstance(commit, Commit)
    assert policy.commit_done(commit, _result("Ask not what your country can d..."), 102.0) == []
    assert policy.settled is None and policy.stats.committed == 0
    # The next decodes agree again, on the same cut: no commit there a second time; the
    # text stays on screen as a partial.
    again = policy.partial_done(paused(5.0), _result(text + " what you"), 0.2, 102.5)
    assert [type(e) for e in again] == [Partial]  # type: ignore[union-attr]
    assert policy.stats.refused == 1
    # Not for ever: 2 s past commit_span, that cut is made whatever its decode says.
    overdue = _policy(commit_after=3.0, commit_span=8.0)
    overdue.partial_done(_partial(1, 4.0), _result(text), 0.2, 101.0)
    first = overdue.partial_done(paused(4.4), _result(text + " what"), 0.2, 101.4)
    assert isinstance(first, Commit) and not first.forced
    overdue.commit_done(first, _result("Ask not what your country can d..."), 102.0)
    late = overdue.partial_done(paused(10.0), _result(text + " what"), 0.2, 108.0)
    assert isinstance(late, Commit) and late.forced and abs(late.at - first.at) < 0.5
    assert overdue.commit_done(late, _result("Ask not what your country can d..."), 109.0)
    # A cut at another pause, later, is made.
    longer = text + " what you can do. For your"
    policy.partial_done(paused(6.6, (5.4, 5.6)), _result(longer), 0.2, 103.0)
    later = policy.partial_done(paused(7.0, (5.4, 5.6)), _result(longer + " country"), 0.2, 103.5)
    assert isinstance(later, Commit) and later.at > commit.at + 0.5
    events = policy.commit_done(later, _result(text + " what you can do."), 104.0)
    assert [type(e) for e in events] == [Final, Partial]
    # A forced cut, made where no pause was found, stands even if its decode trails off.
    forced = replace(later, forced=True)
    assert policy.commit_done(forced, _result("Ask not what your country can d..."), 105.0)


def test_interim_work_a_new_job_makes_useless_is_cancelled() -> None:
    policy = _policy()
    partial, early = _partial(1, 3.0), _partial(1, 3.0, early=True)
    assert policy.supersedes(partial, _final(1, 4.0, speech_end=3.5))  # cannot be reused
    assert not policy.supersedes(partial, _final(1, 4.0, speech_end=2.9))  # will be reused
    assert policy.supersedes(partial, _partial(1, 3.7, early=True))  # hears 0.7 s more
    assert not policy.supersedes(early, _final(1, 4.0, speech_end=3.5))  # the final's own
    assert not policy.supersedes(None, early)


def test_a_partial_is_left_to_finish_for_an_early_decode_that_hears_little_more() -> None:
    from livewhisper.events import Partial

    policy = _policy()  # early_cancel_after=0.6
    assert not policy.supersedes(_partial(1, 3.0), _partial(1, 3.2, early=True))
    assert policy.supersedes(_partial(1, 3.0), _partial(2, 3.2, early=True))  # another utterance
    assert _policy(early_cancel_after=0.0).supersedes(
        _partial(1, 3.0), _partial(1, 3.0, early=True)
    )
    # The partial that finishes is shown, but leaves agreement (and so commits) to the
    # decodes after it: an identical reading agrees only with the next one.
    text = "Ask not what your country can do for you"
    policy = _policy()
    assert policy.partial_done(_partial(1, 4.0), _result(text), 0.2, 101.0)
    late = _partial(1, 4.4)
    policy.queued(_partial(1, 4.6, early=True))
    (shown,) = policy.partial_done(late, _result(text), 0.2, 101.2)  # type: ignore[misc]
    assert isinstance(shown, Partial) and shown.text == text and shown.stable == ""
    (agreed,) = policy.partial_done(_partial(1, 5.0), _result(text), 0.2, 101.4)  # type: ignore[misc]
    assert isinstance(agreed, Partial) and agreed.stable == text


def test_finals_get_a_sized_context_where_that_keeps_accuracy() -> None:
    from livewhisper.engine import DecodeOptions
    from livewhisper.policy import StreamPolicy

    job = _final(1, 4.0, speech_end=3.5)
    for sized, expected in ((True, lambda ctx: 0 < ctx < 1500), (False, lambda c: c == 0)):
        policy = StreamPolicy(StreamConfig(), DecodeOptions(language="en"), sized_finals=sized)
        options = policy.options(job)
        assert expected(options.audio_ctx), (sized, options)
        assert options.temperature_increment > 0  # a final's care either way
    given = StreamPolicy(
        StreamConfig(), DecodeOptions(language="en", audio_ctx=512), sized_finals=True
    )
    assert given.options(job).audio_ctx == 512  # the caller's own context wins


def test_the_rest_of_an_utterance_after_a_cut_gets_no_history_prompt() -> None:
    from livewhisper.gate import PauseHeld

    policy = _policy(sized_finals=False, sentence_confidence=0.7)  # prompts: full context
    first = _final(1, 2.0, speech_end=1.8)
    policy.final_done(first, _result("Ask not what your country can do for you."), 100.0)
    assert "country" in (policy.options(_final(2, 3.0, 2.8)).initial_prompt or "")
    early = _partial(2, 2.5, early=True)
    policy.signal(PauseHeld(2, 2.6, 0.3))
    wait = policy.partial_done(early, _result("Go forward ten meters."), 0.1, 101.0)
    policy.after_pause(wait, True, 101.0)  # type: ignore[arg-type]
    assert policy.settled is not None
    # The utterance goes on after its quick final: its rest is decoded without a prompt
    # that ends with the words just before the cut; other utterances keep the history.
    assert not policy.options(_final(2, 5.0, 4.8)).initial_prompt
    assert policy.options(_final(3, 3.0, 2.8, start=6.0)).initial_prompt


def test_a_speakers_own_repeat_does_not_hold_commits_back() -> None:
    """A broadcast speaker said "against Trump. Trump is a closet liberal": every decode
    held "Trump Trump", and counting any phrase said twice as a decoder loop kept a 22 s
    utterance from committing anything, its partials ever dearer and later. Words heard
    one after the other are speech: the sentences before the newest are committed."""
    from livewhisper.policy import Commit

    policy = _policy(commit_after=3.0, commit_span=8.0)
    text = "His argument against Trump. Trump is a closet liberal. Look at"
    for end, at in ((5.0, 101.0), (5.2, 101.2)):
        job = _partial(1, end)
        job.audio[round(3.5 * RATE) : round(3.7 * RATE)] = 0.0  # after " liberal."
        step = policy.partial_done(job, _result(text), 0.2, at)
    assert isinstance(step, Commit)
    assert " ".join(w.word.strip() for w in step.words) == (
        "His argument against Trump. Trump is a closet liberal."
    )


def test_a_decoder_loop_is_neither_shown_nor_agreed() -> None:
    """A partial decode that wrote its phrase twice, the copy squeezed into the last
    moments of the audio (how Whisper loops), shows it once, and two such decodes in a
    row do not agree on the copy: the finals' loop rule, on partials."""
    from livewhisper.events import Partial, Segment, Transcription

    said = _words("And so my fellow Americans.", 0.2, 0.4)  # 0.2-2.2 s
    copy = _words("And so my fellow Americans.", 2.25, 0.05)  # 2.25-2.5 s
    words = tuple(said + copy)
    text = "".join(w.word for w in words)
    looped = Transcription((Segment(text, 0.2, 2.5, words, -0.3, 0.9),), "en", 2.5)
    policy = _policy(sentence_confidence=None)
    for end in (2.5, 3.1):
        events = policy.partial_done(_partial(1, end), looped, 0.1, 101.0)
        assert isinstance(events, list)
        (partial,) = events
        assert isinstance(partial, Partial)
        assert partial.text == "And so my fellow Americans."
    assert partial.stable == "And so my fellow Americans."


def test_a_sentence_end_whisper_is_unsure_of_becomes_final_after_a_longer_pause() -> None:
    """Whisper closes whole sentences at 0.38-0.69 as often as not on tiny.en: such an
    early decode waits for ``sentence_final_after`` of silence (not the whole pause), a
    sure one for ``quick_final_after``, and one that ends no sentence for the pause."""
    from livewhisper.events import Final
    from livewhisper.gate import PauseHeld, SpeechResumed
    from livewhisper.policy import WaitForPause

    def waits(text: str, sure: float, **stream: object) -> float | None:
        early = _partial(1, 2.5, early=True)
        policy = _policy(**{"sentence_final_after": 0.6, **stream})
        step = policy.partial_done(early, _result(text, sure=sure), 0.2, 101.0)
        return step.silence if isinstance(step, WaitForPause) else None

    assert waits("Go forward ten meters.", 0.9) == 0.3
    assert waits("Go forward ten meters.", 0.5) == 0.6
    assert waits("Go forward ten", 0.9) is None  # no sentence end: the pause decides
    assert waits("Go forward ten meters.", 0.5, sentence_final_after=None) is None
    assert waits("Go forward ten meters.", 0.9, sentence_confidence=None) is None
    assert waits("Go forward ten meters.", 0.5, sentence_confidence=None) is None

    assert _policy().stream.sentence_final_after is None  # off by default
    for resumed in (False, True):
        policy = _policy(sentence_final_after=0.6)
        early = _partial(1, 2.5, early=True)
        wait = policy.partial_done(early, _result("Go forward ten meters.", sure=0.5), 0.2, 101.0)
        assert isinstance(wait, WaitForPause)
        policy.signal(PauseHeld(1, 2.8, 0.3))
        assert policy.pause(early, wait.silence) is None  # 0.3 s is not enough for it
        if resumed:
            policy.signal(SpeechResumed(1, 3.0))
        policy.signal(PauseHeld(1, 3.1, 0.6))  # after the resumption: of no account
        held = policy.pause(early, wait.silence)
        assert held is (not resumed)
        events = policy.after_pause(wait, bool(held), 102.0)
        assert isinstance(events, list) and len(events) == 1
        assert isinstance(events[0], Final) is (not resumed)


def test_sentence_final_after_is_checked() -> None:
    from livewhisper.errors import ConfigError
    from livewhisper.gate import pause_levels

    with pytest.raises(ConfigError, match="sentence_final_after"):
        StreamConfig(quick_final_after=0.5, sentence_final_after=0.4)
    # Not shorter than the pause: the pause ends the utterance first, one level only.
    assert pause_levels(StreamConfig(sentence_final_after=0.8), pause=0.8) == (0.3,)
    assert pause_levels(StreamConfig(sentence_final_after=0.3), pause=1.0) == (0.3,)
