"""The lanes' colours, shared by the TUI and `gdtui figure`: torch-free and Textual-free.

Why: a lane is one colour wherever it is drawn (the lanes table, the plots, a figure for slides), so the list
lives in one place that both can import without loading the other's toolkit.
"""

# Okabe and Ito's palette, told apart with the common colour blindnesses too, as RGB.
LANE_RGB: tuple[tuple[int, int, int], ...] = (
    (213, 94, 0),
    (86, 180, 233),
    (240, 228, 66),
    (204, 121, 167),
    (0, 158, 115),
    (230, 159, 0),
    (153, 153, 153),
    (255, 255, 255),
)
