"""Design-space samplers (placeholder: filled by the model-zoo work)."""

SPACES: dict = {}


def sample(space: str, n: int, seed: int = 0) -> list:
    raise NotImplementedError
