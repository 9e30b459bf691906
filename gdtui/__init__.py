"""gdtui: watch and steer gradient descent in the terminal."""

__version__ = "0.1.0"
