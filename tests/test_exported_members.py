import escalate


def test_public_surface_is_what_we_think_it_is() -> None:
    exported = set(escalate.__all__)
    public = {name for name in dir(escalate) if not name.startswith("_")} | {"__version__"}
    modules = {
        "affect",
        "calibration",
        "engine",
        "errors",
        "models",
        "packet",
        "policy",
        "replay",
        "signals",
        "stores",
        "cli",
        "integrations",
        "serve",
    }
    assert exported == public - modules
    for name in exported:
        assert getattr(escalate, name) is not None


def test_every_error_is_an_escalate_error() -> None:
    for name in (
        "PolicyError",
        "InputError",
        "AffectModelError",
        "StoreError",
        "MissingExtraError",
    ):
        assert issubclass(getattr(escalate, name), escalate.EscalateError)


def test_missing_extra_names_the_install() -> None:
    err = escalate.MissingExtraError("training", "train")
    assert "pip install 'escalate[train]'" in str(err)
    assert isinstance(err, ImportError)
