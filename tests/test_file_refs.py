"""Forged file references: a request naming a server file the server never received.

The bug: an image input sent as ``{"path": "/some/server/file.png"}`` without Gradio's ``meta``
skipped Gradio's allowed-path check, and the app analysed the server's file, showed it as pictures
and put it in the download zip; the errors also told whether a path existed. Here every queued
event with a file-typed input (found in the running app's /config, so a new one is covered) gets
references to files outside the server's folders, with and without ``meta``, over raw HTTP and
through gradio_client. Each must be refused with exactly the words of a missing file, in the
visitor's language, with no traceback in the log, and nothing of those files may be opened,
analysed, drawn or zipped.
"""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from resnet_viz.i18n import image_error
from resnet_viz.model.preprocess import ImageError
from resnet_viz.serve.file_refs import allowed_file, resolved_folders

from .app_server import RestClient, running_app
from .queue_client import QueueClient, default_data, file_inputs
from .support import ROOT

MAGENTA = (255, 0, 255)
META = {"_type": "gradio.FileData"}


def _missing_message(lang: str) -> str:
    return image_error(ImageError("x", "no such file", "missing"), lang)


@pytest.fixture(scope="module")
def secrets_outside(tmp_path_factory):
    """Server files no visitor sent: a magenta photo, a text file, and a link to the photo placed
    inside Gradio's own upload folder."""
    outside = tmp_path_factory.mktemp("server-files")
    photo = outside / "secret.png"
    Image.new("RGB", (64, 64), MAGENTA).save(photo)
    notes = outside / "notes.txt"
    notes.write_text("not for visitors")
    upload_folder = Path(os.environ["GRADIO_TEMP_DIR"])
    link_folder = upload_folder / f"planted-{uuid.uuid4().hex}"
    link_folder.mkdir(parents=True)
    (link_folder / "innocent.png").symlink_to(photo)
    (link_folder / "folder-link").symlink_to(outside, target_is_directory=True)
    return {"photo": photo, "notes": notes, "links": link_folder, "upload_folder": upload_folder}


def _forged_paths(files: dict) -> dict[str, str]:
    photo, links = files["photo"], files["links"]
    climb = "../" * 12 + str(photo).lstrip("/")
    return {
        "server image": str(photo),
        "server text file": str(files["notes"]),
        "missing outside": str(photo.parent / "no-such-photo.png"),
        "missing in the upload folder": str(files["upload_folder"] / "no-such-upload" / "photo.png"),
        "relative climb": climb,
        "climb out of the upload folder": str(files["upload_folder"]) + "/../../../../../../.." + str(photo),
        "link in the upload folder": str(links / "innocent.png"),
        "folder link in the upload folder": str(links / "folder-link" / "secret.png"),
        "the upload folder itself": str(files["upload_folder"]),
        "/proc environ": "/proc/self/environ",
        "/proc cmdline": "/proc/self/cmdline",
        "/proc root": "/proc/self/root" + str(photo),
        "/etc/passwd": "/etc/passwd",
    }


@pytest.fixture(scope="module")
def app():
    with running_app("resnet18") as (url, explorer):
        yield url, explorer


@pytest.fixture
def opened(monkeypatch):
    """Every file Pillow opens in this process (the app runs in it), resolved."""
    paths: list[Path] = []
    original = Image.open

    def recording_open(fp, *args, **kwargs):
        if isinstance(fp, (str, os.PathLike)):
            paths.append(Path(os.path.realpath(fp)))
        return original(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", recording_open)
    return paths


def test_the_check_itself(secrets_outside, tmp_path):
    folders = resolved_folders([secrets_outside["upload_folder"], ROOT / "assets"])
    kept = secrets_outside["upload_folder"] / "kept.png"
    kept.write_bytes((ROOT / "assets" / "chelsea.png").read_bytes())
    assert allowed_file(str(kept), folders) == kept.resolve()
    assert allowed_file(str(ROOT / "assets" / "chelsea.png"), folders) == (ROOT / "assets" / "chelsea.png").resolve()
    for name, path in _forged_paths(secrets_outside).items():
        assert allowed_file(path, folders) is None, name
    for odd in (None, 7, ["/etc/passwd"], "", "relative.png", "/tmp/\x00x", "/" + "a" * 5000):
        assert allowed_file(odd, folders) is None, odd


@pytest.mark.slow
def test_every_file_input_refuses_forged_references_like_a_missing_file(app, secrets_outside, opened, capfd):
    url, explorer = app
    rest = RestClient(url)
    config = rest.http.get("/config").json()
    events = file_inputs(config)
    # Today: the page's photo (upload, example click) and the four named endpoints.
    names = {dep["api_name"] for dep, _ in events}
    assert {"analyze", "attribute", "gradient_flow", "lesion"} <= names and sum(n.startswith("on_photo") for n in names) == 2
    upload = rest.upload(ROOT / "assets" / "chelsea.png")
    forged = _forged_paths(secrets_outside)
    capfd.readouterr()

    for lang in ("en", "ko"):
        session = f"visitor-{lang}"
        client = QueueClient(url, session, lang)
        expected = _missing_message(lang)
        # Every event in English; in Korean the endpoint /analyze (the words come from one place).
        for dep, positions in events if lang == "en" else [e for e in events if e[0]["api_name"] == "analyze"]:
            for name, path in forged.items():
                for with_meta in (False, True):
                    reference = {"path": path, "meta": META} if with_meta else {"path": path}
                    data = default_data(config, dep)
                    for i in positions:
                        data[i] = reference
                    result = client.run(dep["id"], data)
                    where = f"{dep['api_name']} {name} {'with' if with_meta else 'without'} meta ({lang})"
                    assert result["success"] is False, where
                    assert result["output"]["error"] == expected, where
            # ... and a real upload still works for the same event.
            data = default_data(config, dep)
            for i in positions:
                data[i] = upload
            assert client.run(dep["id"], data)["success"] is True, dep["api_name"]
        client.close()

    assert _missing_message("en") == "This image cannot be analysed: no such file"
    secret = {secrets_outside["photo"].resolve(), secrets_outside["notes"].resolve()}
    assert not secret & set(opened), "a forged reference reached Pillow"
    assert not any(p.is_relative_to(Path("/proc").resolve()) or p == Path("/etc/passwd") for p in opened)
    log = capfd.readouterr()
    assert "Traceback" not in log.out + log.err
    rest.close()


def test_nothing_of_a_forged_file_reaches_an_analysis_a_picture_or_the_zip(app, secrets_outside):
    url, explorer = app
    rest = RestClient(url)
    config = rest.http.get("/config").json()
    on_photo = next(dep for dep, _ in file_inputs(config) if dep["api_name"] == "on_photo")
    on_load = next(dep for dep in config["dependencies"] if dep["api_name"] == "on_load")
    on_download = next(dep for dep in config["dependencies"] if dep["api_name"] == "on_download")
    client = QueueClient(url, "victim-of-own-forgery")
    assert client.run(on_load["id"], default_data(config, on_load))["success"]  # the example, as on page load
    for path in (str(secrets_outside["photo"]), str(secrets_outside["links"] / "innocent.png")):
        data = default_data(config, on_photo)
        data[0] = {"path": path}
        result = client.run(on_photo["id"], data)
        assert result["success"] is False and result["output"]["error"] == _missing_message("en")
    session = explorer.current("victim-of-own-forgery")
    assert session is None or not _is_magenta(session.crop)
    downloaded = client.run(on_download["id"], [])
    if downloaded["success"]:  # a zip of what the visitor saw: never the server's photo
        (file,) = [o for o in downloaded["output"]["data"] if isinstance(o, dict) and o.get("value")]
        with zipfile.ZipFile(file["value"]["path"]) as archive:
            for name in archive.namelist():
                if name.endswith(".png"):
                    assert not _is_magenta(Image.open(io.BytesIO(archive.read(name)))), name
    client.close()
    rest.close()


@pytest.mark.slow
def test_gradio_client_gets_the_same_refusal(app, secrets_outside):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, _ = app
    client = Client(url, verbose=False)
    try:
        for path in (str(secrets_outside["photo"]), str(secrets_outside["notes"]), "/nonexistent/photo.png"):
            for name, args in (
                ("/analyze", ("resnet18",)),
                ("/attribute", ("resnet18", "gradcam", "", "C5")),
                ("/gradient_flow", ("resnet18", "")),
                ("/lesion", ("resnet18", "")),
            ):
                with pytest.raises(AppError) as refused:
                    client.predict({"path": path}, *args, api_name=name)
                assert str(refused.value) == _missing_message("en"), (name, path)
        # The example photos may be named by path, as the page's example click does.
        report = client.predict({"path": str(ROOT / "assets" / "chelsea.png")}, "resnet18", api_name="/analyze")
        assert report["predictions"]
    finally:
        client.close()


def test_an_example_click_still_analyses_the_example(app):
    """The example click puts the example into the photo (Gradio copies it into its cache) and the
    chain analyses it: the one path where the server names the file itself."""
    url, _ = app
    rest = RestClient(url)
    config = rest.http.get("/config").json()
    on_example = next(dep for dep in config["dependencies"] if dep["api_name"] == "on_example")
    then = next(dep for dep in config["dependencies"] if dep["trigger_after"] == on_example["id"])
    picked = rest.http.post("/gradio_api/run/predict", json={"fn_index": on_example["id"], "data": [1], "session_hash": "clicker"})
    assert picked.status_code == 200, picked.text
    (photo,) = picked.json()["data"]  # the photo's new value
    data = default_data(config, then)
    data[0] = photo
    assert Path(data[0]["path"]).is_relative_to(Path(os.environ["GRADIO_TEMP_DIR"]).resolve())
    client = QueueClient(url, "clicker")
    assert client.run(then["id"], data)["success"] is True
    client.close()
    rest.close()


def _is_magenta(picture: Image.Image) -> bool:
    r, g, b = (sum(c) / len(c) for c in zip(*picture.convert("RGB").resize((16, 16)).get_flattened_data()))
    return r > 200 and b > 200 and g < 60


def test_a_folder_named_as_a_file_is_refused_before_gradio_takes_it(secrets_outside, capfd):
    """The bug beside the bug: Gradio accepted a folder of its upload folder as a file with meta,
    listed it among the app's temporary files, and its cleanup then failed on it
    (IsADirectoryError) at every pass and at shutdown."""
    with running_app("resnet18") as (url, _):
        rest = RestClient(url)
        config = rest.http.get("/config").json()
        dep, (position,) = next((d, p) for d, p in file_inputs(config) if d["api_name"] == "analyze")
        data = default_data(config, dep)
        data[position] = {"path": str(secrets_outside["links"]), "meta": META}
        client = QueueClient(url, "folder-sender")
        assert client.run(dep["id"], data)["output"]["error"] == _missing_message("en")
        client.close()
        rest.close()
    log = capfd.readouterr()
    assert "IsADirectoryError" not in log.out + log.err and "Traceback" not in log.out + log.err


@pytest.mark.slow
def test_references_of_other_shapes_get_the_same_answer(app, secrets_outside, capfd):
    """Not a reference at all, or one with fields of the wrong type: the same refusal, no traceback."""
    url, _ = app
    rest = RestClient(url)
    config = rest.http.get("/config").json()
    upload = rest.upload(ROOT / "assets" / "chelsea.png")
    odd = [[str(secrets_outside["photo"])], 5, str(secrets_outside["photo"]), {"url": 7}, {"path": ["/etc/passwd"]},
           {**upload, "meta": 5}, {**upload, "orig_name": {"x": 1}}, {"path": upload["path"], "size": "big"}]
    client = QueueClient(url, "odd-shapes", "ko")
    capfd.readouterr()
    for dep, positions in file_inputs(config):
        for value in odd:
            data = default_data(config, dep)
            for i in positions:
                data[i] = value
            result = client.run(dep["id"], data)
            assert result["success"] is False and result["output"]["error"] == _missing_message("ko"), (dep["api_name"], value)
    log = capfd.readouterr()
    assert "Traceback" not in log.out + log.err
    client.close()
    rest.close()
