"""One registry type for every kind of named object: layers, losses, metrics,
optimizers, initializers, activations (Keras 3's get / serialize / deserialize).

    LOSSES = Registry("loss")

    @LOSSES.register(aliases=("mse", "mean_squared_error"))
    class MeanSquaredError(Loss): ...

    LOSSES.get("mse")                  # a new MeanSquaredError()
    LOSSES.serialize(loss)             # {"class_name": "MeanSquaredError", "config": {...}}
    LOSSES.deserialize(spec)           # the loss again

Rules, the same for every kind:
- An object is registered under its class (or function) name and any aliases; the
  aliases are the snake_case strings users type and match case-insensitively, class
  names match exactly. A name taken by another object is refused loudly; registering
  the same definition again (a re-imported module) replaces it.
- Private objects (names starting with "_") and abstract bases (a class whose own body
  sets `_abstract = True`) are never registered, so no model file or spec can name them.
- get(identifier): None -> None; a string -> a new instance (functions are returned as
  they are); a {"class_name", "config"} dict -> deserialize; a registered class -> a
  new instance; an instance or any other callable -> itself.
- serialize(obj) refuses objects whose class is not registered (they could not be read
  back).
"""

ALL = {}   # kind -> Registry, for the CLI and nb.utils


class Registry:
    def __init__(self, kind, instance_of=None):
        """kind: "loss", "layer" ...; instance_of: the base class (or tuple) whose
        instances get() returns as they are (None: any object)."""
        self.kind = kind
        self.instance_of = instance_of
        self._by_name = {}     # exact registered name -> object
        self._by_alias = {}    # lower-case alias -> object
        ALL[kind] = self

    # ------------------------------------------------------------------ registering
    def register(self, obj=None, *, name=None, aliases=()):
        """Register obj (usable as @reg.register or @reg.register(aliases=(...)))."""
        def add(o):
            self.add(o, name=name, aliases=aliases)
            return o
        return add if obj is None else add(obj)

    def add(self, obj, name=None, aliases=()):
        name = name or obj.__name__
        if name.startswith("_") or (isinstance(obj, type) and obj.__dict__.get("_abstract")):
            raise ValueError(f"{name!r} is private or abstract: a {self.kind} registry holds "
                             f"only public, usable {self.kind}s")
        self._claim(self._by_name, name, obj, name)
        for alias in aliases:
            self._claim(self._by_alias, alias.lower(), obj, alias)
        return obj

    def _claim(self, table, key, obj, shown):
        old = table.get(key)
        if old is not None and old is not obj and _where(old) != _where(obj):
            raise ValueError(f"the {self.kind} name {shown!r} is already taken by "
                             f"{_where(old)}; give {_where(obj)} another name")
        table[key] = obj

    # ------------------------------------------------------------------ looking up
    def names(self):
        """The strings users type (aliases), sorted; class names where there are none."""
        return sorted(self._by_alias) or sorted(self._by_name)

    def class_names(self):
        return sorted(self._by_name)

    def lookup(self, name):
        """The registered object for a string: an alias (any case) or a class name."""
        obj = self._by_alias.get(name.lower()) if isinstance(name, str) else None
        if obj is None:
            obj = self._by_name.get(name)
        if obj is None:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return obj

    def __contains__(self, name):
        return isinstance(name, str) and (name.lower() in self._by_alias or name in self._by_name)

    def is_registered(self, obj):
        return any(o is obj for o in self._by_name.values())

    # ------------------------------------------------------------------ Keras' trio
    def get(self, identifier):
        if identifier is None:
            return None
        if isinstance(identifier, str):
            obj = self.lookup(identifier)
            return obj() if isinstance(obj, type) else obj
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, type):
            if not self.is_registered(identifier):
                raise ValueError(f"{identifier.__name__} is not a registered {self.kind}; "
                                 f"known: {', '.join(self.class_names())}")
            return identifier()
        if self.instance_of is not None and isinstance(identifier, self.instance_of):
            return identifier
        if self.instance_of is None and callable(identifier):
            return identifier
        raise ValueError(f"cannot interpret {identifier!r} as a {self.kind}")

    def serialize(self, obj):
        cls = type(obj)
        if not self.is_registered(cls):
            raise ValueError(f"{cls.__name__} is not a registered {self.kind}, so it cannot be "
                             f"saved; register it with nbnet.registry.ALL[{self.kind!r}].register")
        return {"class_name": self._name_of(cls), "config": obj.get_config()}

    def deserialize(self, spec):
        if isinstance(spec, str):
            return self.get(spec)
        if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
            raise ValueError(f"a {self.kind} spec is a dict with 'class_name' and 'config', "
                             f"got {spec!r}")
        cls = self.lookup(spec["class_name"])
        config = spec.get("config") or {}
        if not isinstance(config, dict):
            raise ValueError(f"the config of {self.kind} {spec['class_name']!r} must be a "
                             f"dict, got {type(config).__name__}")
        return cls.from_config(dict(config))

    def _name_of(self, cls):
        for name, obj in self._by_name.items():
            if obj is cls:
                return name
        return cls.__name__


def _where(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
