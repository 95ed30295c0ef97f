"""Exaggerate: move away from the average face by a factor per layer group (a caricature)."""
from explorer.edits import exaggerate
from explorer.layers import GROUP_NAMES
from explorer.plugins import FloatField, Plugin

_HELP = "1 = unchanged, above 1 exaggerates, below 1 tones down, 0 is the average face's {}."


class Exaggerate(Plugin):
    id = "builtin.exaggerate"
    name = "Exaggerate"
    description = "Caricature: push what makes this face differ from the average further, per layer group."
    params = [
        FloatField("coarse", "Coarse factor", 1.5, _HELP.format("pose and shape"), min=0.0, max=3.0, step=0.05),
        FloatField("medium", "Medium factor", 1.5, _HELP.format("features"), min=0.0, max=3.0, step=0.05),
        FloatField("fine", "Fine factor", 1.5, _HELP.format("colours"), min=0.0, max=3.0, step=0.05),
    ]

    def apply(self, inputs, params, context):
        factors = {g: params[g] for g in GROUP_NAMES}
        return exaggerate(inputs[0].ws, context.w_avg, factors, context.groups)
