"""Move a face along a direction in W (smile, age, ...): w' = w + amount * scale * d.

`amount` is in units of the latent spread along the direction (`scale`, when the direction
carries one), so +1 means the same visible step for every attribute and every model. A direction
fitted on another model is refused with a clear message."""
from explorer.edits import move
from explorer.plugins import DirectionField, FloatField, LayerRangeField, ParamError, Plugin


class MoveDirection(Plugin):
    id = "builtin.move_direction"
    name = "Move along direction"
    description = "Push the face along a learned direction such as smile or age."
    params = [
        DirectionField("direction", "Direction", "", "The attribute to change."),
        FloatField("amount", "Amount", 1.0, "How far to move (negative = the other way).",
                   min=-5.0, max=5.0, step=0.1),
        LayerRangeField("layers", "Layers", "all",
                        help="Move only these layers (and only where the direction itself acts)."),
    ]

    def apply(self, inputs, params, context):
        direction = context.direction(params["direction"])
        if direction is None:
            return inputs[0].ws
        layers = context.layers(params["layers"])
        if getattr(direction, "layers", None) is not None:  # a direction fitted on some layers stays there
            own = context.layers(direction.layers, "direction")
            layers = range(max(layers.start, own.start), min(layers.stop, own.stop))
            if len(layers) == 0:
                return inputs[0].ws
        check = getattr(direction, "check_model", None)
        if check is not None and context.model:
            try:
                check(context.model)
            except ValueError as exc:  # a user's mistake, not a plugin failure
                raise ParamError("direction", str(exc)) from None
        step = params["amount"] * float(getattr(direction, "scale", 1.0) or 1.0)
        return move(inputs[0].ws, direction.vector, step, layers)
