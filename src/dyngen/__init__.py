"""dyngen: dynamic generator models of video (Xie et al., AAAI 2019).

The layers, each importable on its own:

- ``dyngen.models``: the networks (``Transition``, ``FrameGenerator``,
  ``DynamicGenerator``) and the linear baseline (``LinearDynamicSystem``);
- ``dyngen.algorithms``: Langevin inference and ABPTT learning;
- ``dyngen.tasks``: train, synthesize, recover, ... composed from the above;
- ``dyngen.io``: videos, masks and frame grids at the I/O boundary.
"""

__version__ = "0.1.0"
