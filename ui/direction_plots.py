"""Small plots for the Directions dock: how the grid's faces score along one direction (a
histogram of signed distances to its SVM boundary) and how alike the model's directions are
(their cosine-similarity matrix, as an image with the names along both axes)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

HIST_BINS = 20


def cosine_matrix(directions) -> np.ndarray:
    """[k, k] cosine similarities between unit direction vectors (same w_dim only)."""
    if not directions:
        return np.zeros((0, 0), np.float32)
    v = np.stack([np.asarray(d.vector, dtype=np.float64) for d in directions])
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return (v @ v.T).astype(np.float32)


class DirectionPlots(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.hist_title = QLabel("Scores of the grid's faces")
        self.hist_title.setProperty("role", "hint")
        self.hist = pg.PlotWidget()
        self.hist.setMinimumHeight(120)
        self.hist.setMaximumHeight(160)
        self.hist.setMenuEnabled(False)
        self.hist.setMouseEnabled(False, False)
        self.hist.getAxis("bottom").setLabel("score (w·d + b)")
        self.hist_curve = self.hist.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=(90, 140, 220, 150))
        self.hist.addItem(pg.InfiniteLine(0, angle=90, pen=pg.mkPen((200, 80, 80), style=Qt.DashLine)))
        self.cos_title = QLabel("Cosine similarity between directions")
        self.cos_title.setProperty("role", "hint")
        self.cos = pg.PlotWidget()
        self.cos.setMinimumHeight(160)
        self.cos.setMenuEnabled(False)
        self.cos.setMouseEnabled(False, False)
        self.cos.setAspectLocked(True)
        self.cos.getViewBox().invertY(True)
        self.cos_image = pg.ImageItem()
        self.cos_image.setLookupTable(pg.colormap.get("CET-D1").getLookupTable(nPts=256))
        self.cos.addItem(self.cos_image)
        for w in (self.hist_title, self.hist, self.cos_title, self.cos):
            lay.addWidget(w)
        self.scores = np.zeros(0, np.float32)
        self.matrix = np.zeros((0, 0), np.float32)
        self.names: list[str] = []

    def set_scores(self, direction, w: np.ndarray | None) -> None:
        """Histogram of direction.score(w) for w [N, w_dim]; empty when either is missing."""
        if direction is None or w is None or len(w) == 0:
            self.scores = np.zeros(0, np.float32)
            self.hist_curve.setData([0, 1], [0])
            self.hist_title.setText("Scores of the grid's faces")
            return
        self.scores = direction.score(np.asarray(w, dtype=np.float32))
        counts, edges = np.histogram(self.scores, bins=HIST_BINS)
        self.hist_curve.setData(edges, counts)
        kind = "SVM scores" if direction.bias is not None else "projections"
        self.hist_title.setText(f"{kind} of the grid's {len(self.scores)} faces along “{direction.name}”")

    def set_directions(self, directions) -> None:
        """The cosine-similarity image, names on both axes (directions of one w_dim)."""
        dirs = list(directions)
        if dirs:
            dim = dirs[0].w_dim
            dirs = [d for d in dirs if d.w_dim == dim]
        self.names = [d.name for d in dirs]
        self.matrix = cosine_matrix(dirs)
        if len(dirs):
            # ImageItem's first axis is x: transpose so row i of the matrix is drawn at y = i
            self.cos_image.setImage(self.matrix.T, levels=(-1.0, 1.0))
        else:
            self.cos_image.clear()
        # names down the side (numbered), numbers only along the bottom: 14 names side by side
        # in a 400 px panel overlapped into one smear
        self.bottom_ticks = [(i + 0.5, str(i + 1)) for i in range(len(self.names))]
        self.left_ticks = [(i + 0.5, f"{i + 1} {n[:12]}") for i, n in enumerate(self.names)]
        self.cos.getAxis("bottom").setTicks([self.bottom_ticks])
        self.cos.getAxis("left").setTicks([self.left_ticks])
        self.cos.setToolTip("\n".join(
            f"{a} · {b}: {self.matrix[i, j]:+.2f}" for i, a in enumerate(self.names)
            for j, b in enumerate(self.names) if j > i)[:2000])
