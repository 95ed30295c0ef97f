"""Children: variations of a face, each group of layers pulled toward a freshly sampled face."""
from explorer.edits import mutate
from explorer.layers import GROUP_NAMES
from explorer.plugins import FloatField, IntField, Plugin


class Children(Plugin):
    id = "builtin.children"
    name = "Children"
    description = "Make several variations of a face. Strength per layer group: 0 keeps the parent's " \
                  "pose / features / colours, 1 takes a new random face's."
    params = [
        IntField("count", "Children", 6, "How many variations to make.", min=1, max=16),
        FloatField("coarse", "Coarse change", 0.3, "Pose and face shape.", min=0.0, max=1.0, step=0.05),
        FloatField("medium", "Medium change", 0.4, "Features and hair style.", min=0.0, max=1.0, step=0.05),
        FloatField("fine", "Fine change", 0.5, "Colours and texture.", min=0.0, max=1.0, step=0.05),
        IntField("seed", "Variation seed", 0, "Change for a different litter.", min=0, max=2 ** 31 - 1),
    ]

    def output_count(self, params):
        return params["count"]

    def apply(self, inputs, params, context):
        parent = inputs[0].ws
        fresh = context.sample_ws(params["count"])                 # [count, num_ws, w_dim]
        strengths = {g: params[g] for g in GROUP_NAMES}
        kids = []
        for i, other in enumerate(fresh):
            kids.append(mutate(parent, other, strengths, context.groups))
            context.progress((i + 1) / len(fresh))
        return kids
