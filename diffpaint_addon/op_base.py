# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""What the operators that wait on background work share: a timer that checks on the work without
blocking Blender (in the UI), or a loop that runs it to completion (from a script, or without a window)."""

from __future__ import annotations

import time
from typing import Literal

import bpy

Status = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
POLL_INTERVAL = 0.2  # seconds between checks on the work: responsive, yet no busy UI
PASS_THROUGH: Status = {"PASS_THROUGH"}
RUNNING_MODAL: Status = {"RUNNING_MODAL"}  # from on_event: the event was for the operator, which goes on


def redraw_panels(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "IMAGE_EDITOR", "PREFERENCES"):
                area.tag_redraw()


class TimerOperator(bpy.types.Operator):
    """Base of the operators that start background work (``begin``) and then check on it
    (``follow``, which answers PASS_THROUGH while the work goes on). Invoked from the UI they check on a
    window timer, leaving Blender responsive; executed (a script's ``bpy.ops`` call, or no window:
    ``blender -b``) they check in a loop and return when the work is done. Not registered itself."""

    poll_interval = POLL_INTERVAL
    _timer: bpy.types.Timer | None = None

    def begin(self, context: bpy.types.Context) -> bool:
        """Start the work; False (with the reason reported) if it cannot start."""
        raise NotImplementedError

    def follow(self, context: bpy.types.Context) -> Status:
        """One look at the work: PASS_THROUGH while it runs, else how the operator ends."""
        raise NotImplementedError

    def on_event(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        """Any other event while the operator runs modally: not for it, by default."""
        return PASS_THROUGH

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        if context.window is None:
            return self.execute(context)
        if not self.begin(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(self.poll_interval, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> Status:
        if not self.begin(context):
            return {"CANCELLED"}
        while (status := self.follow(context)) == PASS_THROUGH:
            time.sleep(self.poll_interval)
        return status

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        status = self.follow(context) if event.type == "TIMER" else self.on_event(context, event)
        if status not in (PASS_THROUGH, RUNNING_MODAL):
            self.remove_timer(context)
        return status

    def remove_timer(self, context: bpy.types.Context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
