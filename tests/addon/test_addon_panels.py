"""Panels and preferences drawn with real bpy in every state of a run (idle, running, failed, done,
cancelled with a level kept) and of the backend set-up, into a layout that checks each call against
Blender's own UILayout RNA: method, keyword names, enum values (icons…), properties and operators."""

from __future__ import annotations

import pytest
from blender_helpers import bpy_eval

RECORDING_LAYOUT = r'''
import bpy

FUNCS = bpy.types.UILayout.bl_rna.functions

class OpProps:
    def __init__(self, idname):
        mod, name = idname.split(".")
        rna = getattr(getattr(bpy.ops, mod), name).get_rna_type()  # raises for an unknown operator
        object.__setattr__(self, "_names", {p.identifier for p in rna.properties})
    def __setattr__(self, key, value):
        assert key in self._names, f"operator has no property {key!r}"

class Layout:
    """Records what a draw function puts on screen, refusing anything real Blender would."""
    def __init__(self, log):
        object.__setattr__(self, "log", log)
    def __setattr__(self, key, value):
        assert key in ("enabled", "active", "alert", "use_property_split", "scale_y"), key
    def __getattr__(self, name):
        fn = FUNCS.get(name)
        assert fn is not None, f"UILayout has no {name}()"
        params = [p for p in fn.parameters if not p.is_output]
        def call(*args, **kw):
            kw.update(zip([p.identifier for p in params], args))
            by_id = {p.identifier: p for p in params}
            for key, value in kw.items():
                assert key in by_id, f"{name}() has no parameter {key!r}"
                p = by_id[key]
                if p.type == "ENUM":
                    assert value in {i.identifier for i in p.enum_items}, f"{name}({key}={value!r})"
            if "data" in kw and "property" in kw:
                assert kw["property"] in kw["data"].bl_rna.properties, f"no property {kw['property']!r}"
            self.log.append([name, {k: v for k, v in kw.items() if isinstance(v, (str, int, float, bool))}])
            if name == "operator":
                return OpProps(kw["operator"])
            if name in ("column", "row", "box", "split", "column_flow", "grid_flow"):
                return Layout(self.log)
            return None
        return call

class Space:
    type = "IMAGE_EDITOR"
    def __init__(self, image):
        self.image = image

class Ctx:
    def __init__(self, space=None):
        self.scene, self.window_manager = bpy.context.scene, bpy.context.window_manager
        self.preferences, self.space_data = bpy.context.preferences, space

def texts(log):
    return [kw.get("text", "") for _, kw in log]
'''

PANELS = RECORDING_LAYOUT + r'''
import diffpaint_addon
from diffpaint_addon import panels

bpy.ops.wm.read_factory_settings(use_empty=True)
diffpaint_addon.register()
wm, settings = bpy.context.window_manager.diffpaint, bpy.context.scene.diffpaint
image = bpy.data.images.new("canvas", 8, 8)
result = {}
STATES = {
    "idle": dict(state="IDLE"),
    "running": dict(state="RUNNING", running=True, progress=0.4, status="Level 2/3 · paint 10/80"),
    "failed": dict(state="FAILED", message="Reconstruction failed: the backend refused the token: check the "
                                           "token in the DiffPaint preferences"),
    "done": dict(state="DONE", message="Imported strokes; backend output kept in /tmp/x"),
    "cancelled": dict(state="CANCELLED", message="Reconstruction cancelled; level 2 of 3 is kept",
                      partial_path="/tmp/level-2.json", partial_label="level 2 of 3"),
}
for name, values in STATES.items():
    for key in ("running", "progress", "status", "message", "partial_path", "partial_label"):
        setattr(wm, key, type(getattr(wm, key))())
    for key, value in values.items():
        setattr(wm, key, value)
    settings.style = "OIL" if name == "failed" else "DIGITAL"
    settings.quality = "CUSTOM" if name == "done" else "STANDARD"
    for where, ctx in (("view3d", Ctx()), ("image_editor", Ctx(Space(image)))):
        log = []
        in_editor = where == "image_editor"
        panels.draw_backend(Layout(log), ctx)
        panels.draw_image_and_medium(Layout(log), ctx, in_editor)
        panels.draw_quality(Layout(log), ctx)
        panels.draw_run(Layout(log), ctx, in_editor)
        panels.draw_import(Layout(log), ctx)
        result[f"{name}/{where}"] = {"calls": [c[0] for c in log], "texts": texts(log),
                                     "icons": [kw.get("icon", "") for _, kw in log],
                                     "props": [kw.get("property", "") for _, kw in log],
                                     "device_text": [kw.get("text") for _, kw in log if kw.get("property") == "device"]}
'''


@pytest.fixture(scope="module")
def panels() -> dict:
    return bpy_eval(PANELS)


@pytest.mark.parametrize("where", ["view3d", "image_editor"])
def test_idle_panel_offers_settings_and_reconstruct(panels: dict, where: str) -> None:
    drawn = panels[f"idle/{where}"]
    assert "progress" not in drawn["calls"]
    assert "BRUSHES_ALL" in drawn["icons"]  # the Reconstruct button
    assert any(t.startswith("Estimated time: ~") for t in drawn["texts"])
    assert ("template_ID" in drawn["calls"]) == (where == "view3d")
    assert "style_reference" in drawn["props"]  # beside the medium, whose brushwork it sets
    if where == "image_editor":
        assert "Image: canvas" in drawn["texts"]


@pytest.mark.parametrize("where", ["view3d", "image_editor"])
def test_running_panel_shows_progress_and_cancel(panels: dict, where: str) -> None:
    drawn = panels[f"running/{where}"]
    assert "progress" in drawn["calls"] and "Level 2/3 · paint 10/80" in drawn["texts"]
    assert "Cancel" in drawn["texts"] and "BRUSHES_ALL" not in drawn["icons"]


def test_failed_panel_explains(panels: dict) -> None:
    drawn = panels["failed/view3d"]
    joined = " ".join(drawn["texts"])
    assert "the backend refused the token" in joined and "ERROR" in drawn["icons"]
    assert "BRUSHES_ALL" in drawn["icons"]  # can try again


def test_job_properties_come_from_the_job_schema() -> None:
    """Labels, tooltips, defaults and bounds of the panel's job settings are the schema's; the panel offers
    exactly the media and devices the backend implements, each medium with its own tooltip."""
    props = bpy_eval("""
        import bpy, diffpaint_addon
        diffpaint_addon.register()
        rna = bpy.types.Scene.bl_rna.properties["diffpaint"].fixed_type.properties
        result = {}
        for p in rna:
            entry = {"name": p.name, "description": p.description, "type": p.type}
            if p.type == "INT":
                entry |= {"default": p.default, "min": p.hard_min, "soft_max": p.soft_max}
            elif p.type == "ENUM":
                entry |= {"default": p.default, "items": [[i.identifier, i.description] for i in p.enum_items]}
            elif p.type in ("BOOLEAN", "STRING"):
                entry |= {"default": p.default, "subtype": p.subtype}
            result[p.identifier] = entry
    """)
    from diffpaint_shared.jobschema import DEVICES, SETTINGS, STYLE_CHOICES

    for s in SETTINGS:
        if s.name == "background":
            continue
        prop = props[s.name]
        assert prop["name"] == s.label and prop["description"] == s.help[0].upper() + s.help[1:], s.name
        if s.type is int:
            assert (prop["default"], prop["min"]) == (s.default, s.minimum), s.name
            if s.soft_maximum is not None:
                assert prop["soft_max"] == s.soft_maximum, s.name
        elif s.choices:
            assert prop["default"] == s.default.upper()
        else:
            assert prop["default"] == s.default
        if s.path:  # a file the job reads: the panel's file browser picks it
            assert (prop["type"], prop["subtype"]) == ("STRING", "FILE_PATH"), s.name
    assert [key for key, _ in props["style"]["items"]] == [style.upper() for style in STYLE_CHOICES]
    assert [key for key, _ in props["device"]["items"]] == [device.upper() for device in DEVICES]
    tooltips = [tip for _, tip in props["style"]["items"]]
    assert len(set(tooltips)) == len(tooltips) and all(tooltips)


def test_done_and_cancelled_panels(panels: dict) -> None:
    assert "CHECKMARK" in panels["done/view3d"]["icons"]
    assert {"size", "iterations", "rounds"} <= set(panels["done/view3d"]["props"])  # Custom quality
    assert "size" not in panels["idle/view3d"]["props"]
    cancelled = panels["cancelled/image_editor"]
    assert "Import Last Level (level 2 of 3)" in cancelled["texts"]


PREFERENCES = RECORDING_LAYOUT + r'''
import addon_utils
from diffpaint_addon import backend_setup
from diffpaint_addon.preferences import UiState, draw_preferences

bpy.ops.wm.read_factory_settings(use_empty=True)
addon_utils.enable("diffpaint_addon", default_set=True, handle_error=None)
prefs = bpy.context.preferences.addons["diffpaint_addon"].preferences
result = {}

class FakeSetup:
    def __init__(self, state, status):
        self.state, self.status, self.fraction = state, status, 0.5

for name, setup, connection in (
    ("fresh", None, ("", False)),
    ("setting_up", FakeSetup("running", "3/4 Installing the backend: Collecting torch"), ("", False)),
    ("set_up", FakeSetup("done", "Backend ready: diffpaint 0.1.0"), ("Connected: diffpaint 0.1.0 on CPU", True)),
    ("setup_failed", FakeSetup("failed", "Updating pip failed (exit status 1)"), ("cannot reach", False)),
    ("remote", None, ("Connected: diffpaint 0.1.0 on CUDA (H100)", True)),
):
    prefs.backend = "REMOTE" if name == "remote" else "LOCAL"
    UiState.setup, (UiState.connection, UiState.connection_ok) = setup, connection
    log = []
    draw_preferences(prefs, Layout(log))
    result[name] = {"calls": [c[0] for c in log], "texts": texts(log),
                    "props": [kw.get("property", "") for _, kw in log]}
'''


def test_preferences_draw_in_every_setup_state() -> None:
    drawn = bpy_eval(PREFERENCES)
    assert {"python_path", "backend_source"} <= set(drawn["fresh"]["props"])
    assert "progress" in drawn["setting_up"]["calls"]
    assert "Backend ready: diffpaint 0.1.0" in drawn["set_up"]["texts"]
    assert "Updating pip failed (exit status 1)" in drawn["setup_failed"]["texts"]
    assert {"remote_url", "remote_token"} <= set(drawn["remote"]["props"])
    assert "python_path" not in drawn["remote"]["props"]
    assert "Connected: diffpaint 0.1.0 on CUDA (H100)" in drawn["remote"]["texts"]


def test_operators_are_searchable_undoable_and_described() -> None:
    ops = bpy_eval("""
        import bpy, diffpaint_addon
        diffpaint_addon.register()
        result = {}
        for cls in diffpaint_addon._classes():
            if issubclass(cls, bpy.types.Operator):
                mod, name = cls.bl_idname.split(".")
                rna = getattr(getattr(bpy.ops, mod), name).get_rna_type()
                result[cls.bl_idname] = {"description": rna.description, "options": sorted(cls.bl_options)}
    """)
    for idname, op in ops.items():
        assert len(op["description"]) > 20, idname  # what F3 search and tooltips show
        assert "\n" not in op["description"], idname  # a docstring's line breaks would show in the tooltip
    for idname in ("diffpaint.import_strokes", "diffpaint.reconstruct", "diffpaint.import_last_level"):
        assert {"REGISTER", "UNDO"} <= set(ops[idname]["options"]), idname
    assert "INTERNAL" not in ops["diffpaint.reconstruct"]["options"]


BACKEND_LINE = RECORDING_LAYOUT + r'''
import diffpaint_addon
from diffpaint_addon import panels
from diffpaint_addon.preferences import UiState

bpy.ops.wm.read_factory_settings(use_empty=True)
diffpaint_addon.register()
class FakeSetup:
    state, status, fraction = "running", "3/5 Installing the backend", 0.5
result = {}
for name, setup, connection in (("not_set_up", None, ("", False)), ("setting_up", FakeSetup(), ("", False)),
                                ("ready", None, ("Connected: diffpaint 0.1.0 on CUDA (NVIDIA H200)", True))):
    UiState.setup, (UiState.connection, UiState.connection_ok) = setup, connection
    log = []
    panels.draw_backend(Layout(log), Ctx())
    result[name] = {"calls": [c[0] for c in log], "texts": [t for t in texts(log) if t],
                    "operators": [kw.get("operator", "") for _, kw in log]}
subpanels = [cls for cls in panels.classes if getattr(cls, "bl_parent_id", "") == "DIFFPAINT_PT_main"]
result["subpanels"] = [[cls.bl_label, sorted(cls.bl_options)] for cls in subpanels]
'''


def test_the_panel_starts_with_the_backend_state_and_set_up_where_needed() -> None:
    drawn = bpy_eval(BACKEND_LINE, env={"DIFFPAINT_PYTHON": "", "DIFFPAINT_SERVER_URL": ""})
    assert drawn["not_set_up"]["texts"][0] == "Backend not set up"
    assert "diffpaint.setup_backend" in drawn["not_set_up"]["operators"]
    assert "progress" in drawn["setting_up"]["calls"]
    assert "diffpaint.setup_backend" not in drawn["setting_up"]["operators"]
    assert drawn["ready"]["texts"][0] == "Backend ready: diffpaint 0.1.0 on CUDA (NVIDIA H200)"
    # the settings in subpanels; Import closed until opened
    assert drawn["subpanels"] == [["Image & Medium", []], ["Quality", []], ["Run", []], ["Import", ["DEFAULT_CLOSED"]]]


def test_the_device_control_is_labelled(panels: dict) -> None:
    assert panels["idle/view3d"]["device_text"] == [None]  # its own label ("Device"), not text=""


def test_the_style_reference_is_sent_as_the_file_it_names(tmp_path) -> None:
    """A blend-relative reference path ("//…") reaches the client as the file system's path."""
    sent = bpy_eval(f"""
        import bpy, diffpaint_addon
        from diffpaint_addon.reconstruct_op import job_settings
        diffpaint_addon.register()
        bpy.ops.wm.save_as_mainfile(filepath={str(tmp_path / "scene.blend")!r})
        settings = bpy.context.scene.diffpaint
        settings.style, settings.style_reference = "OIL", "//refs/vangogh.png"
        with_reference = job_settings(settings)
        settings.style_reference = ""
        result = [with_reference, job_settings(settings)]
    """)
    assert sent[0]["style_reference"] == str(tmp_path / "refs" / "vangogh.png") and sent[0]["style"] == "oil"
    assert sent[1]["style_reference"] == ""
