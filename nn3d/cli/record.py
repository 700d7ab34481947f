"""``nn3d record MODEL -o out.mp4``: a video (MP4 or GIF) of MODEL along a camera path, headless."""

from __future__ import annotations

from ..model_argument import FORMS
from .arguments import add_scene_options, load_model, positive, positive_count, scene_options, size


def add_parser(sub) -> None:
    r = sub.add_parser("record", help="render a video (MP4 or GIF) of MODEL along a camera path, headless")
    r.add_argument("model", help=f"MODEL: {FORMS}, or a .nn3d training recording")
    r.add_argument("-o", "--out", required=True, help="video file to write (.mp4, .gif)")
    r.add_argument("--path", default="orbit", help="camera path: orbit, through, or a keyframes JSON file")
    r.add_argument("--frames", type=positive_count, default=120, help="number of frames (default 120)")
    r.add_argument("--fps", type=positive, default=30, help="frames per second (default 30)")
    r.add_argument("--animate", choices=("forward", "backward", "samples", "training"),
                   help="what changes over the video besides the camera (default: nothing)")
    r.add_argument("--size", type=size, default=(1280, 720), help="video size WxH (default 1280x720)")
    r.add_argument("--workers", type=positive_count, default=None,
                   help="render the frames as N Ray tasks, frame ranges joined into the same video (needs "
                        "nn3d[ray]; default: one process)")
    r.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to render on (HOST:PORT, ray://HOST:PORT or auto; default: a local Ray "
                        "of --workers CPUs)")
    add_scene_options(r)


def run(args) -> int:
    from ..render.shards import record

    if args.workers is not None or args.ray_address is not None:
        from ..render.shards import import_ray

        import_ray()  # before the model is loaded: say at once what to install
    net, acts, _ = load_model(args)
    record(net, acts, args.out, path=args.path, frames=args.frames, fps=args.fps, animate=args.animate,
           size=args.size, workers=args.workers, ray_address=args.ray_address, title=net.name,
           **scene_options(args))
    return 0
