"""The caption page in a real browser: Chromium (headless, driven by Playwright) opens the
page, a speech WAV plays through Chromium's fake microphone, the AudioWorklet resamples it
to 16 kHz and streams it, and the words must appear as captions on the page.

Screenshots go to build/test-artifacts/ (or $LIVEWHISPER_ARTIFACTS).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
from browser_fixtures import (  # noqa: F401
    errors,
    fixture_artifacts,
    fixture_server,
    needs_chromium,
    open_page,
)
from conftest import EN, deadline, read_wav, reference
from server_fixtures import fixture_server_pool  # noqa: F401

from livewhisper.server import ServerThread
from livewhisper.wer import normalize, word_error_rate

pytestmark = needs_chromium


@pytest.fixture(name="speech_wav")
def fixture_speech_wav(tmp_path: Path) -> Path:
    """JFK with silence around it. Chromium plays the file from when getUserMedia opens the
    device, and the page sends audio only once its worklet and socket are up: with a 1 s
    lead, a full-suite run lost "And" ("So am I fellow America?"), most likely there. The
    trailing pause lets the utterance end while audio still flows."""
    audio = read_wav(EN / "jfk.wav")
    second = np.zeros(16000, dtype=np.float32)
    path = tmp_path / "speech.wav"
    soundfile.write(path, np.concatenate([second] * 3 + [audio, second, second]), 16000, "PCM_16")
    return path


def test_the_page_opens_ready_with_the_server_defaults(server: ServerThread) -> None:
    with open_page() as (page, console):
        page.goto(server.url)
        page.wait_for_selector("#start:not([disabled])", timeout=deadline(15_000))
        page.wait_for_selector("#follow:not([disabled])", timeout=deadline(15_000))
        assert page.is_visible("#empty-hint")  # the empty page says what to do
        assert page.input_value("#model") == "tiny.en-q8_0"
        assert page.input_value("#language") == "en"  # an English-only model
    assert not errors(console), console


@pytest.mark.slow
def test_page_captions_speech_from_the_fake_microphone(
    server: ServerThread, speech_wav: Path, artifacts: Path, tmp_path: Path
) -> None:
    with open_page(
        "--disable-quic",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech_wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ) as (page, console):
        # A second tab follows the shared captions, as a projector in the room would.
        follower = page.context.new_page()
        follower.on("pageerror", lambda error: console.append(f"page error: {error}"))
        follower.goto(server.url)
        follower.wait_for_selector("#follow:not([disabled])", timeout=deadline(15_000))
        follower.click("#follow")
        follower.wait_for_function(
            "() => document.querySelector('#status').textContent.includes('Following')"
        )
        page.goto(server.url)
        page.wait_for_selector("#start:not([disabled])", timeout=deadline(15_000))
        page.check("#share")
        page.fill("#name", "Ana")  # shown beside her captions on the follower's page
        assert page.is_visible("#empty-hint")  # the empty page says what to do
        assert page.input_value("#model") == "tiny.en-q8_0"
        assert page.input_value("#language") == "en"  # an English-only model
        # Count partial captions as they appear: they are replaced, so sample them.
        page.evaluate(
            """() => {
                window.partialsSeen = 0;
                new MutationObserver(() => {
                    if (document.querySelector('#partials .partial')) window.partialsSeen++;
                }).observe(document.querySelector('#partials'),
                           {childList: true, subtree: true});
            }"""
        )
        page.click("#start")
        page.wait_for_selector("#partials .partial", timeout=deadline(60_000))
        page.screenshot(path=str(artifacts / "captions-partial.png"))
        page.wait_for_function(
            """() => document.querySelector('#transcript').textContent.toLowerCase()
                .replace(/[^a-z ]/g, '').includes('do for your country')""",
            timeout=deadline(90_000),
        )
        # (The speech's last words: with quick finals its first sentence may be final
        # on its own a few seconds before them.)
        page.screenshot(path=str(artifacts / "captions-page.png"))
        text = page.inner_text("#transcript")
        assert word_error_rate(reference("jfk"), text) <= 0.15, (text, console)
        assert page.evaluate("window.partialsSeen") > 0, "partial text is shown first"
        assert page.eval_on_selector(".final", "e => getComputedStyle(e).fontSize") == "40px"

        page.click("#start")  # stop: the page sends end, the server ends the session
        page.wait_for_function(
            "() => document.querySelector('#status').textContent === 'Stopped'",
            timeout=deadline(30_000),
        )
        with page.expect_download() as download:
            page.click("button.download[data-format='srt']")
        srt = Path(download.value.path()).read_text(encoding="utf-8")
        assert re.search(r"^1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n", srt), srt
        assert "country" in normalize(srt)
        with page.expect_download() as download:
            page.click("button.download[data-format='vtt']")
        assert Path(download.value.path()).read_text(encoding="utf-8").startswith("WEBVTT")

        followed = follower.inner_text("#transcript")
        assert "what your country can do" in normalize(followed), followed
        assert follower.inner_text("#transcript .who") == "Ana"
        assert not page.is_visible("#empty-hint")
        follower.screenshot(path=str(artifacts / "captions-follower.png"))

        page.click("#fullscreen")  # the captions-only view, for a projector
        assert page.evaluate("document.body.classList.contains('captions-only')")
        assert not page.is_visible("#controls")
        page.screenshot(path=str(artifacts / "captions-only.png"))
    assert not errors(console), console
