"""A served tab's session keeps the serve rules itself (issue 25): a file outside the served data folder is never
read and a model over --max-params is never built, whatever the app sends."""

from __future__ import annotations

from gdtui.engine import protocol as p
from gdtui.engine import resolve
from gdtui.engine.served import ENV, Served
from tests.test_audit_engine import errors, serve


def test_the_session_refuses_a_file_outside_the_folder_and_a_model_too_large(tmp_path, monkeypatch):
    inside = tmp_path / "class"
    inside.mkdir()
    (inside / "ok.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("x,y\n1,1\n2,2\n")
    opened: list[str] = []
    import gdtui.engine.csvfile as csvfile

    real = csvfile.read_xy_job

    def watched(path, *args, **kwargs):
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(csvfile, "read_xy_job", watched)
    monkeypatch.setenv(ENV, Served(str(inside), None, 1000).env())
    config = resolve("linear-manual", epochs=5)
    script = [
        (0, p.Configure(config.replace(data=str(secret)))),
        (0, p.Configure(config.replace(model="mlp", hidden=(64, 64)))),
        (0, p.Configure(config.replace(data=str(inside / "ok.csv")))),
        (0, p.Step()),
    ]
    session, replies = serve(config, script, monkeypatch)
    refused = errors(replies)
    assert [e.field for e in refused] == ["data", "model"]
    assert "outside the served data folder" in refused[0].message
    assert "parameters: gdtui serve builds at most 1,000" in refused[1].message
    assert str(secret) not in opened and opened == [str(inside / "ok.csv")]
    assert session.trainer is not None and session.trainer.config.data == str(inside / "ok.csv")
    assert session.trainer.epoch == 1
