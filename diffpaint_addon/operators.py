"""The add-on's operators, one module per job: import and export (import_ops), reconstruct
(reconstruct_op), the backend's set-up and connection (backend_ops); op_base has what the operators
that wait on background work share."""

from __future__ import annotations

from .backend_ops import DIFFPAINT_OT_setup_backend, DIFFPAINT_OT_stop_local_server, DIFFPAINT_OT_test_connection
from .import_ops import DIFFPAINT_OT_export_strokes, DIFFPAINT_OT_import_sequence, DIFFPAINT_OT_import_strokes
from .reconstruct_op import DIFFPAINT_OT_cancel_reconstruct, DIFFPAINT_OT_import_last_level, DIFFPAINT_OT_reconstruct

classes = (DIFFPAINT_OT_import_strokes, DIFFPAINT_OT_import_sequence, DIFFPAINT_OT_export_strokes,
           DIFFPAINT_OT_reconstruct, DIFFPAINT_OT_cancel_reconstruct, DIFFPAINT_OT_import_last_level,
           DIFFPAINT_OT_test_connection, DIFFPAINT_OT_setup_backend, DIFFPAINT_OT_stop_local_server)
