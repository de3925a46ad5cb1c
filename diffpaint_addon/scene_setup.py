# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Camera and render settings that reproduce the canvas pixel for pixel.

Engine: Workbench. Grease Pencil is drawn by the same GP engine under Workbench and EEVEE, and both
give identical stroke pixels, but Workbench skips EEVEE's shader compilation (about 1 s instead of
about 14 s per render on llvmpipe). Colors come out exactly with the "Standard" view transform and
dithering off; a one-pixel film filter with many GP samples approximates the box-filtered coverage
of an anti-aliased raster without shifting stroke edges.
"""

from __future__ import annotations

import math

import bpy
import numpy as np
from mathutils import Matrix, Vector

from diffpaint_shared.color import srgb_to_linear
from diffpaint_shared.strokefile import Canvas

from .sampling import CanvasMapping

RENDER_ENGINE = "BLENDER_WORKBENCH"
CAMERA_NAME = "DiffPaint Camera"
WORLD_NAME = "DiffPaint World"
CAMERA_DISTANCE = 10.0  # in front of the y = 0 painting plane, well inside the default clip range
GP_AA_SAMPLES = 32


def setup_scene_for_canvas(scene: bpy.types.Scene, canvas: Canvas, obj: bpy.types.Object) -> bpy.types.Object:
    """Frame ``obj`` (an imported painting at its import scale) with an orthographic camera that
    sees exactly the canvas, and make renders of ``scene`` reproduce the canvas's sRGB pixels.
    Returns the camera object, which becomes the scene camera."""
    mapping = CanvasMapping(canvas.width, canvas.height)
    cam = _camera(scene)
    cam.data.type = "ORTHO"
    cam.data.sensor_fit = "AUTO"  # ortho_scale then spans the longer image side
    cam.data.ortho_scale = max(mapping.world_size)
    cam.data.shift_x = cam.data.shift_y = 0.0
    # Look along +Y with +Z up: the painting's front view, centered on the object's origin.
    origin = obj.matrix_world.translation
    eye = origin + Vector((0.0, -CAMERA_DISTANCE, 0.0))
    cam.matrix_world = Matrix.Translation((eye.x, eye.y, eye.z)) @ Matrix.Rotation(math.pi / 2, 4, "X")
    scene.camera = cam

    render = scene.render
    render.engine = RENDER_ENGINE  # type: ignore[assignment]  # stubs list EEVEE only
    render.resolution_x, render.resolution_y = canvas.width, canvas.height
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    render.film_transparent = False
    render.dither_intensity = 0.0  # dithering would perturb exact colors
    render.filter_size = 1.0
    render.image_settings.file_format = "PNG"
    render.image_settings.color_mode = "RGB"
    render.image_settings.color_depth = "8"
    scene.grease_pencil_settings.aa_samples = GP_AA_SAMPLES

    view = scene.view_settings
    view.view_transform = "Standard"
    view.look = "None"
    view.exposure = 0.0
    view.gamma = 1.0
    scene.display_settings.display_device = "sRGB"

    # Outside the canvas rectangle (and in its anti-aliased border) the world shows: match it.
    world = bpy.data.worlds.get(WORLD_NAME) or bpy.data.worlds.new(WORLD_NAME)
    world.color = tuple(srgb_to_linear(np.asarray(canvas.background, dtype=np.float64)))
    scene.world = world
    return cam


def _camera(scene: bpy.types.Scene) -> bpy.types.Object:
    cam = bpy.data.objects.get(CAMERA_NAME)
    if cam is None or cam.type != "CAMERA":
        cam = bpy.data.objects.new(CAMERA_NAME, bpy.data.cameras.new(CAMERA_NAME))
    if cam.name not in scene.objects:
        scene.collection.objects.link(cam)
    return cam
