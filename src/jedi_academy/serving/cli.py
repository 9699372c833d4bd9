"""``academy serve``, ``academy serve-config`` and ``academy checkpoints adapters``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jedi_academy.cli_kit import print_json
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.errors import ConfigError
from jedi_academy.hooks import hookimpl
from jedi_academy.serving.network import is_loopback

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry


def parse_lora_module(spec: str) -> tuple[str, str]:
    """``NAME=DIR`` or vLLM's JSON form ``{"name": ..., "path": ..., "base_model_name": ...}``."""
    if spec.lstrip().startswith("{"):
        try:
            module = json.loads(spec)
            name, path = module["name"], module["path"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"--lora {spec!r} is not a JSON object with 'name' and 'path'",
                'for example --lora \'{"name": "a", "path": "/adapters/a"}\'',
            ) from exc
        if isinstance(name, str) and isinstance(path, str) and name and path:
            return name, path
        raise ConfigError(f"--lora {spec!r}: 'name' and 'path' must be non-empty strings")
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise ConfigError(
            f"--lora {spec!r} is not NAME=ADAPTER_DIR", "for example --lora autism=./adapters/a1"
        )
    return name, path


def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Interface to bind; beyond loopback needs --api-key.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port; 0 picks a free one (printed).", min=0, max=65535)
    ] = 8000,
    lora: Annotated[
        list[str] | None,
        typer.Option(
            "--lora",
            "--lora-modules",
            help='NAME=ADAPTER_DIR or vLLM\'s JSON {"name", "path"}: served as model NAME. Repeatable.',
        ),
    ] = None,
    checkpoint: Annotated[
        list[str] | None,
        typer.Option(help="Serve this checkpoint's adapter under its id (id or prefix). Repeatable."),
    ] = None,
    served_name: Annotated[
        str | None, typer.Option(help="Model name clients use (default: --model).")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="ACADEMY_SERVE_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1."),
    ] = None,
    max_model_len: Annotated[
        int | None,
        typer.Option(min=2, help="Longest prompt + reply in tokens (default: the model's positions)."),
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Largest max_tokens a request may ask for.")] = 4096,
    max_request_bytes: Annotated[int, typer.Option(min=1024, help="Largest request body.")] = 2 * 1024 * 1024,
    max_concurrent: Annotated[int, typer.Option(min=1, help="Requests in flight; more get 429.")] = 64,
    runtime_lora: Annotated[
        bool, typer.Option(help="Allow /v1/load_lora_adapter and /v1/unload_lora_adapter (as vLLM does).")
    ] = False,
    graceful_timeout: Annotated[
        int, typer.Option(min=0, help="Seconds to let replies finish after SIGTERM/Ctrl-C.")
    ] = 30,
) -> None:
    """Serve a local model over the OpenAI wire format, as vLLM does: chat completions (streaming, logprobs,
    n), adapters as named models, optional bearer token and request limits."""
    from jedi_academy.llm.server import ServerLimits, create_app, run_server
    from jedi_academy.llm.transformers_backend import TransformersLLM

    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"refusing to serve on {host} without an API key: anyone who can reach it could use the model",
            "pass --api-key (or set ACADEMY_SERVE_API_KEY), or keep the default --host 127.0.0.1",
        )
    settings = _settings(ctx)
    adapters = dict(parse_lora_module(spec) for spec in lora or [])
    if checkpoint:
        from jedi_academy.serving.adapters import select_adapters

        model_given = (ctx.find_root().obj or {}).get("model") is not None
        selection = select_adapters(
            settings, checkpoints=checkpoint, base_model=settings.model if model_given else None
        )
        if selection.skipped:
            raise ConfigError(f"cannot serve {selection.skipped[0]}")
        settings = settings.model_copy(update={"model": selection.base_model})
        adapters.update({a.name: str(a.path) for a in selection.adapters})
    llm = TransformersLLM.from_settings(settings)
    for path in adapters.values():
        llm.ensure_adapter(path)
    limits = ServerLimits(
        api_key=api_key,
        max_model_len=max_model_len,
        max_tokens=max_tokens,
        max_body_bytes=max_request_bytes,
        max_concurrent=max_concurrent,
    )
    app = create_app(llm, served_name or settings.model, adapters, limits=limits, runtime_lora=runtime_lora)
    names = ", ".join([served_name or settings.model, *adapters])

    def announce(url: str) -> None:  # after binding: with --port 0 this line names the port taken
        typer.echo(f"serving {names} on {url}/v1 (SIGTERM or Ctrl-C stops)", err=True)

    run_server(app, host, port, graceful_s=graceful_timeout, on_listening=announce)


def serve_config_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Option("--for", help="The server to configure: vllm.")] = "vllm",
    out: Annotated[Path | None, typer.Option(help="Folder to write (default <data-dir>/serve/vllm).")] = None,
    checkpoint: Annotated[
        list[str] | None, typer.Option(help="Only these checkpoints (id or prefix). Repeatable.")
    ] = None,
    specialization: Annotated[
        str | None, typer.Option(help="Only this specialization's checkpoints.")
    ] = None,
    base_model: Annotated[
        str | None, typer.Option(help="The base model, when checkpoints use several.")
    ] = None,
    export: Annotated[
        bool, typer.Option(help="Copy the adapters into <out>/adapters/ to ship them.")
    ] = False,
    adapter_root: Annotated[
        str | None, typer.Option(help="With --export: where <out>/adapters/ will be on the GPU machine.")
    ] = None,
    max_loras: Annotated[int | None, typer.Option(min=1, help="Adapters per GPU batch (default 8).")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the vLLM server.")] = 8000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the configuration as JSON.")] = False,
) -> None:
    """Write what a vLLM server needs to serve every LoRA checkpoint as a named adapter (vllm-serve.sh,
    lora-modules.json, runtime load_lora_adapter calls)."""
    from jedi_academy.serving.adapters import select_adapters
    from jedi_academy.serving.vllm_config import TARGETS, VLLMOptions, write_vllm_config

    if target not in TARGETS:
        raise ConfigError(f"unknown --for {target!r}", f"choose one of {', '.join(TARGETS)}")
    settings = _settings(ctx)
    selection = select_adapters(
        settings, checkpoints=checkpoint, specialization=specialization, base_model=base_model
    )
    options = VLLMOptions(
        out=out or settings.path("serve", target),
        export=export,
        adapter_root=adapter_root,
        max_loras=max_loras,
        port=port,
    )
    summary = write_vllm_config(settings, selection, options)
    if as_json:
        print_json(summary)
        return
    typer.echo(
        f"{len(summary['adapters'])} adapter(s) on {summary['base_model']} written to {summary['out']}"
    )
    for line in summary["skipped"]:
        typer.echo(f"  skipped {line}")
    typer.echo(f"  start vLLM:   {summary['out']}/vllm-serve.sh")
    typer.echo(f"  or at runtime: {summary['out']}/load-adapters.sh http://HOST:{port}")


def checkpoints_adapters_command(
    ctx: typer.Context,
    specialization: Annotated[str | None, typer.Option(help="Only this specialization.")] = None,
    base_model: Annotated[
        str | None, typer.Option(help="The base model, when checkpoints use several.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="vLLM's lora-modules JSON entries.")] = False,
) -> None:
    """The LoRA checkpoints as served adapters: NAME=PATH lines for `vllm serve --lora-modules`."""
    from jedi_academy.serving.adapters import select_adapters

    selection = select_adapters(_settings(ctx), specialization=specialization, base_model=base_model)
    if as_json:
        rows = [
            {"name": a.name, "path": str(a.path), "base_model_name": a.base_model, "rank": a.rank}
            for a in selection.adapters
        ]
        print_json(rows)
        return
    for adapter in selection.adapters:
        typer.echo(f"{adapter.name}={adapter.path}")


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.command("serve")(serve_command)
    commands.command("serve-config")(serve_config_command)
    commands.command("adapters", group="checkpoints")(checkpoints_adapters_command)
