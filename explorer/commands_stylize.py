"""`latent-explorer stylize`: neural style transfer of a model's face, from the command line.

    latent-explorer stylize --model default --seed 3 --style frost --out x.png

The face is rendered, stylised by the same plugin the window uses (builtin.style_transfer, with
the window's defaults), and written as a PNG that carries its recipe (the seed, the edit and its
parameters): opening it in the app gives the same stylised face.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import plugin_ids as ids
from .errors import FileProblem


def cmd_stylize(args) -> int:
    import numpy as np
    from PIL import Image

    from . import load_generator
    from .export import save_png
    from .face_files import png_payload
    from .latents import latent_from_seed
    from .plugins import ParamError, PluginError, PluginRegistry
    from .post_cache import PostCache, default_cache_folder
    from .render import RenderService

    registry = PluginRegistry()
    registry.discover(folder=None)
    registry.post_cache = PostCache(None if args.no_cache else default_cache_folder())
    plugin = registry.get(ids.STYLE_TRANSFER)
    params = plugin.defaults()
    for name, value in (("style", args.style), ("style_file", args.style_file), ("iterations", args.iterations),
                        ("size", args.work_size), ("style_weight", args.style_weight),
                        ("content_weight", args.content_weight), ("smoothness", args.smoothness),
                        ("style_scale", args.brush_size), ("keep_colours", args.keep_colours),
                        ("optimizer", args.optimizer), ("features", args.features)):
        if value is not None:
            params[name] = value
    if args.style_file and args.style is None:
        params["style"] = "file"
    try:
        params = plugin.validate_params(params)
        if params["style"] == "file":
            plugin.style_picture(params)         # a bad picture is refused before any rendering
    except ParamError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    gen = load_generator(args.model)
    psi = args.psi if args.psi is not None else float((gen.config.get("card") or {}).get("default_psi", 1.0))
    latent = latent_from_seed(gen, args.seed, psi=psi)
    latent = registry.apply(ids.STYLE_TRANSFER, [latent], params, model=gen)[0]
    with RenderService(gen) as service:
        result = service.render(latent.ws[None], args.render_size, noise=[latent.noise])
    if result.error:
        print(f"error: rendering failed: {result.error}", file=sys.stderr)
        return 1
    face = result.images[0]
    source = f"{gen.fingerprint}:{latent.digest()}"
    last = [-1.0]

    def progress(f: float) -> None:
        if not args.quiet and (f - last[0] >= 0.1 or f >= 1.0):
            last[0] = f
            print(f"\rstylising {100 * f:3.0f}%", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    hits = registry.post_cache.hits
    try:
        out = registry.apply_post(face, latent.post, model=gen, source=source, progress=progress)
    except (PluginError, ParamError) as e:
        print(f"\nerror: {getattr(e, 'message', e)}", file=sys.stderr)
        return 1
    dt = time.perf_counter() - t0
    if not args.quiet:
        print(file=sys.stderr)
    path = save_png(Path(args.out), out, png_payload(latent, gen.name))
    if args.side_by_side:
        side = Path(args.out).with_name(Path(args.out).stem + "-side.png")
        Image.fromarray(np.concatenate([face[..., :3], out[..., :3]], axis=1)).save(side)
        print(f"wrote {side}")
    print(f"wrote {path} ({out.shape[1]}x{out.shape[0]}, style {params['style']}, {params['features']} features, "
          f"{dt:.1f} s{' from the cache' if registry.post_cache.hits > hits else ''})")
    return 0


def register(sub) -> None:
    s = sub.add_parser("stylize", help="neural style transfer of a face (frost, oil, charcoal, mosaic, "
                                       "stained glass, or a picture)",
                       description=__doc__.split("\n\n")[0],
                       epilog="Example: latent-explorer stylize --model default --seed 3 --style frost --out x.png")
    s.add_argument("--model", default="default", help="checkpoint path or 'default'")
    s.add_argument("--seed", type=int, required=True, help="the face's seed")
    s.add_argument("--psi", type=float, default=None, help="truncation psi (default: the model card's)")
    s.add_argument("--style", default=None,
                   help="frost, oil, charcoal, mosaic, stained_glass, or file (with --style-file)")
    s.add_argument("--style-file", default=None, help="a style picture (PNG, JPEG, WebP ...)")
    s.add_argument("--iterations", type=int, default=None, help="optimisation steps (default 100)")
    s.add_argument("--work-size", type=int, default=None, help="longest side the optimisation works at (default 256)")
    s.add_argument("--render-size", type=int, default=None,
                   help="render the face at this size first (Lanczos above the model's resolution)")
    s.add_argument("--style-weight", type=float, default=None, help="style strength (default 10)")
    s.add_argument("--content-weight", type=float, default=None, help="content strength (default 1)")
    s.add_argument("--smoothness", type=float, default=None, help="total-variation weight (default 1)")
    s.add_argument("--brush-size", type=float, default=None, help="scale of the style's strokes (default 1)")
    s.add_argument("--keep-colours", action="store_true", default=None, help="transfer brightness only")
    s.add_argument("--optimizer", choices=["lbfgs", "adam"], default=None)
    s.add_argument("--features", choices=["random", "vgg19"], default=None,
                   help="random (default; always available) or vgg19 (needs LATENT_EXPLORER_VGG19)")
    s.add_argument("--side-by-side", action="store_true", help="also write OUT-side.png (face | stylised)")
    s.add_argument("--no-cache", action="store_true", help="do not keep or reuse results on disk")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--out", required=True, help="the stylised face, a PNG with its recipe")
    s.set_defaults(func=cmd_stylize)


__all__ = ["cmd_stylize", "register", "FileProblem"]
