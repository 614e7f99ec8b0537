"""Tabular data sets for benchmarks/tabular_cv.py, as a user's CSV file would hold them.

Each loader returns a `Table`: the raw pandas DataFrame (string categories, empty cells
or "?" for missing values, identifier and name columns, booleans written as True/False
or yes/no), the target column, the task, and the column roles that the scikit-learn
baseline needs (nbnet is given the raw CSV and must work the roles out itself).

Real data:
  iris, wine, breast_cancer  scikit-learn's bundled copies (UCI), targets as class names.
  diabetes                   scikit-learn's bundled copy with its raw (unscaled) values.
  penguins                   palmerpenguins.load_penguins() (Gorman, Williams & Fraser
                             2014, Palmer Station LTER; CC0): string columns and NAs.
  penguins_raw               palmerpenguins.load_penguins_raw(): the LTER file as
                             published (sample ids, dates, Yes/No, free-text comments).
  Both penguin tables need `pip install palmerpenguins`; without it they are skipped.

Synthetic data drawn with a fixed seed from published real-world figures (each
function's docstring cites them):
  titanic    passenger list, survival (classification, 0/1 as in the usual CSV).
  adult      1994 census extract, income <=50K / >50K (classification).
  insurance  medical insurance charges (regression).

`python benchmarks/tabular_data.py` prints a summary of every table and, for the
synthetic ones, the published marginal rates next to the generated ones.
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Table:
    """A data set as a raw DataFrame plus what the scikit-learn baseline needs to know."""
    name: str
    frame: pd.DataFrame
    target: str
    task: str                      # "classification" or "regression"
    numeric: list                  # sklearn: median imputation + StandardScaler
    categorical: list              # sklearn: "(missing)" imputation + OneHotEncoder
    ignore: list = field(default_factory=list)  # identifiers, names, dates, free text
    source: str = ""

    def __post_init__(self):
        roles = set(self.numeric) | set(self.categorical) | set(self.ignore) | {self.target}
        cols = set(self.frame.columns)
        if roles != cols:
            raise ValueError(f"{self.name}: column roles {sorted(roles ^ cols)} do not match "
                             f"the frame's columns")

    @property
    def features(self):
        return [c for c in self.frame.columns if c != self.target]


# ----------------------------------------------------------------------------- real data
def _sklearn_classification(loader, name, source):
    bunch = loader(as_frame=True)
    df = bunch.frame.copy()
    names = np.asarray(bunch.target_names)
    df["target"] = names[df["target"].to_numpy()]
    df = df.rename(columns={"target": "class"})
    numeric = [c for c in df.columns if c != "class"]
    return Table(name, df, "class", "classification", numeric, [], source=source)


def load_iris():
    from sklearn import datasets
    return _sklearn_classification(datasets.load_iris, "iris",
                                   "Fisher 1936 (UCI), scikit-learn copy: 150 rows, 3 classes")


def load_wine():
    from sklearn import datasets
    return _sklearn_classification(datasets.load_wine, "wine",
                                   "UCI Wine (Forina et al.), scikit-learn copy: 178 rows")


def load_breast_cancer():
    from sklearn import datasets
    return _sklearn_classification(datasets.load_breast_cancer, "breast_cancer",
                                   "UCI Breast Cancer Wisconsin (Diagnostic), scikit-learn "
                                   "copy: 569 rows, malignant/benign")


def load_diabetes():
    from sklearn import datasets
    df = datasets.load_diabetes(as_frame=True, scaled=False).frame.copy()
    df = df.rename(columns={"target": "progression"})
    numeric = [c for c in df.columns if c != "progression"]
    return Table("diabetes", df, "progression", "regression", numeric, [],
                 source="Efron et al. 2004, scikit-learn copy (raw, unscaled): 442 rows")


def _palmerpenguins():
    try:
        import palmerpenguins
    except ImportError:
        return None
    return palmerpenguins


def load_penguins():
    """None (with the reason in `skip_reason`) when palmerpenguins is not installed."""
    pp = _palmerpenguins()
    if pp is None:
        return None
    df = pp.load_penguins()
    df = pd.DataFrame({c: df[c].astype(object).where(df[c].notna(), np.nan)
                       if df[c].dtype.kind not in "if" else df[c] for c in df.columns})
    return Table("penguins", df, "species", "classification",
                 numeric=["bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                          "body_mass_g", "year"],
                 categorical=["island", "sex"],
                 source="palmerpenguins.load_penguins(): 344 rows, NAs in 5 columns")


def load_penguins_raw():
    pp = _palmerpenguins()
    if pp is None:
        return None
    df = pp.load_penguins_raw()
    df = pd.DataFrame({c: df[c].astype(object).where(df[c].notna(), np.nan)
                       if df[c].dtype.kind not in "if" else df[c] for c in df.columns})
    return Table("penguins_raw", df, "Species", "classification",
                 numeric=["Culmen Length (mm)", "Culmen Depth (mm)", "Flipper Length (mm)",
                          "Body Mass (g)", "Delta 15 N (o/oo)", "Delta 13 C (o/oo)"],
                 categorical=["studyName", "Region", "Island", "Stage", "Clutch Completion",
                              "Sex"],
                 ignore=["Sample Number", "Individual ID", "Date Egg", "Comments"],
                 source="palmerpenguins.load_penguins_raw(): the LTER file, 344 rows, "
                        "17 columns")


skip_reason = {"penguins": "palmerpenguins is not installed (pip install palmerpenguins)",
               "penguins_raw": "palmerpenguins is not installed (pip install palmerpenguins)"}


# ----------------------------------------------------------------------------- helpers
def _logit(p):
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _calibrate(z, rate):
    """The intercept b such that mean(sigmoid(z + b)) == rate (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _sigmoid(z + mid).mean() < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _choice(rng, table, size):
    """Draw `size` keys of {key: weight} in proportion to the weights."""
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=size, p=p / p.sum())]


def _cond_choice(rng, groups, tables):
    """For each element of `groups`, draw from tables[group] ({key: weight})."""
    out = np.empty(len(groups), dtype=object)
    for g, table in tables.items():
        idx = np.flatnonzero(groups == g)
        if len(idx):
            out[idx] = _choice(rng, table, len(idx))
    return out


_ENGLISH_SURNAMES = ["Smith", "Brown", "Williams", "Jones", "Taylor", "Davies", "Wilson",
                     "Evans", "Johnson", "Roberts", "Walker", "Wright", "Thompson", "White",
                     "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Lewis",
                     "Martin", "Jackson", "Clarke", "Turner", "Hill", "Cooper", "Ward",
                     "Morris", "Moore", "King", "Baker", "Harrison", "Morgan", "Allen",
                     "Carter", "Phillips", "Mitchell", "Parker", "Bennett", "Collins",
                     "Fortune", "Goldsmith", "Hocking", "Kelly", "Sage", "Goodwin", "Dean"]
_IRISH_SURNAMES = ["Murphy", "Kelly", "O'Sullivan", "Walsh", "O'Brien", "Byrne", "Ryan",
                   "O'Connor", "O'Neill", "McCarthy", "Doyle", "Gallagher", "Flynn",
                   "Keane", "Moran", "Mullen", "Connolly", "Dooley", "Healy", "Madigan",
                   "McGowan", "Foley", "Glynn", "Kiernan", "Lennon", "Bourke", "Donohoe"]
_NORDIC_SURNAMES = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson",
                    "Olsen", "Hansen", "Pettersson", "Lindqvist", "Gustafsson", "Berglund",
                    "Skoog", "Asplund", "Panula", "Lindblom", "Strom", "Dahl", "Ekstrom",
                    "Niskanen", "Hakkarainen", "Backstrom", "Sandstrom", "Jussila"]
_FRENCH_SYRIAN_SURNAMES = ["Laroche", "Mallet", "Chapelle", "Navratil", "Dubois", "Moraweck",
                           "Nakid", "Yasbeck", "Boulos", "Elias", "Hanna", "Moubarek",
                           "Touma", "Baclini", "Nicola-Yarred", "Attalah", "Thomas",
                           "Karun", "Peter", "Lemore", "Nasser", "Sagesser", "Aubart"]
_AMERICAN_SURNAMES = ["Astor", "Widener", "Thayer", "Ryerson", "Carter", "Fortune",
                      "Harper", "Hays", "Baxter", "Douglas", "Graham", "Spencer", "Taussig",
                      "Allison", "Straus", "Dodge", "Crosby", "Brandeis", "Cardeza",
                      "Chaffee", "Warren", "Newell", "Minahan", "Hoyt", "Frolicher"]
_MALE_GIVEN = ["John", "William", "James", "George", "Charles", "Thomas", "Henry", "Joseph",
               "Edward", "Frederick", "Arthur", "Albert", "Patrick", "Michael", "Karl",
               "Johan", "Anders", "Nils", "Ernst", "Pierre", "Jean", "Hanna", "Youssef",
               "Walter", "Harry", "Richard", "Samuel", "Daniel", "Francis", "Robert"]
_FEMALE_GIVEN = ["Mary", "Margaret", "Elizabeth", "Anna", "Helen", "Alice", "Ellen",
                 "Catherine", "Bridget", "Annie", "Edith", "Florence", "Ida", "Hilda",
                 "Maria", "Marguerite", "Jeanne", "Mariana", "Nora", "Emily", "Ethel",
                 "Kate", "Agnes", "Julia", "Ruth", "Dorothy", "Eleanor", "Bertha"]


# ----------------------------------------------------------------------------- titanic
def make_titanic(n=2000, seed=0):
    """A Titanic-like passenger list (classification: `Survived` 0/1, as in the usual CSV).

    Columns (Encyclopedia Titanica / Kaggle "titanic" layout): PassengerId (identifier),
    Name ("Surname, Title. Given names", from name lists by port), Pclass 1/2/3, Sex, Age
    (missing), SibSp, Parch, Ticket (identifier-like text), Fare (missing), Cabin (mostly
    missing; high-cardinality text), Embarked S/C/Q (missing), Alone (True/False).

    Sources of the figures:
    * Class shares and survival by class, sex and age group: the British Board of Trade
      figures in the British Wreck Commissioner's inquiry report ("Report on the Loss of
      the S.S. Titanic", 1912, section "Numbers saved"; in R as COUNT::titanic, checked
      against it): passengers aboard / saved - 1st class: men 175 / 57, women 144 / 140,
      children 6 / 6; 2nd class: men 168 / 14, women 93 / 80, children 24 / 24; 3rd
      class: men 462 / 75, women 165 / 76, children 79 / 27 (1,316 passengers, 499
      saved). Those are the per-cell base rates here (smoothed as (saved + 0.5) /
      (aboard + 1) so that no cell is certain); children are under 13 here.
    * Within each cell survival is shifted (on the log-odds scale, centred per cell so
      the cell rates stay those of the inquiry) by age, fare within class, family size
      (in the passenger list 30 % of those alone survived, 56 % of those with 1-3
      relatives, 15 % of those with 5 or more) and port.
    * Ages (means 39 / 30 / 25 by class, missing for 12 % / 6 % / 29 % of the classes:
      20 % overall, missingness that depends on the class), SibSp and Parch shares
      (68 % / 24 % / 3 % with 0 / 1 / 2 siblings or spouses; 77 % / 13 % / 9 % with
      0 / 1 / 2 parents or children): the 1,309-passenger list of Encyclopedia Titanica
      as compiled by F. Harrell (titanic3; in R as carData::TitanicSurvival and
      vcdExtra::Titanicp). Ports by class (1st: C 85, Q 2, S 127; 2nd: C 17, Q 3, S 164;
      3rd: C 66, Q 72, S 353), fares (per ticket, medians about 60 / 14 / 8 pounds by
      class, higher for families) and cabins (known for about 81 % / 9 % / 2.5 % of the
      classes; decks by class): the 891-passenger subset of that list that Kaggle's
      "Titanic" competition distributes as train.csv. Fare (1 %) and Embarked (0.5 %)
      are missing completely at random.
    Expected accuracy of a good model: about 0.78-0.83 (the real list's range).
    """
    rng = np.random.default_rng(seed)
    pclass = rng.choice([1, 2, 3], size=n, p=np.array([325, 285, 706]) / 1316)
    ci = pclass - 1
    child = rng.random(n) < np.array([6 / 325, 24 / 285, 79 / 706])[ci]
    male = np.where(child, rng.random(n) < 0.5,
                    rng.random(n) < np.array([175 / 319, 168 / 261, 462 / 627])[ci])
    sex = np.where(male, "male", "female")

    # Age: adults from class-specific normals, children uniform under 13.
    adult_age = rng.normal(np.array([40.0, 31.5, 26.5])[ci], np.array([13.5, 11.5, 10.0])[ci])
    adult_age = np.clip(np.round(adult_age), 13, 80)
    child_age = rng.uniform(0.42, 12.99, n)
    child_age = np.where(child_age < 1, np.round(child_age, 2), np.floor(child_age))
    age = np.where(child, child_age, adult_age)

    # Family: children travel with parents; third-class families were larger.
    sibsp_adult = rng.choice([0, 1, 2, 3, 4], size=n, p=[0.70, 0.25, 0.03, 0.01, 0.01])
    parch_adult = rng.choice([0, 1, 2, 3, 4, 5], size=n,
                             p=[0.82, 0.10, 0.06, 0.008, 0.006, 0.006])
    sib_child_3 = rng.choice([0, 1, 2, 3, 4, 5, 8], size=n,
                             p=[0.15, 0.30, 0.15, 0.12, 0.15, 0.08, 0.05])
    sib_child_12 = rng.choice([0, 1, 2, 3], size=n, p=[0.35, 0.45, 0.15, 0.05])
    sibsp = np.where(child, np.where(pclass == 3, sib_child_3, sib_child_12), sibsp_adult)
    parch = np.where(child, rng.choice([1, 2], size=n, p=[0.4, 0.6]), parch_adult)
    family = sibsp + parch
    alone = family == 0

    # Port by class (Encyclopedia Titanica / Kaggle counts).
    embarked = _cond_choice(rng, pclass, {1: {"S": 127, "C": 85, "Q": 2},
                                          2: {"S": 164, "C": 17, "Q": 3},
                                          3: {"S": 353, "C": 66, "Q": 72}})

    # Fare per ticket: lognormal by class, higher for families; a few 0 fares.
    fare = rng.lognormal(np.log(np.array([60.0, 14.0, 8.05])[ci]),
                         np.array([0.70, 0.40, 0.30])[ci]) * (1 + family) ** 0.45
    fare = np.where(rng.random(n) < 0.008, 0.0, np.round(fare, 4))

    # Survival: the inquiry's cell rate, shifted within the cell by the other features.
    saved = {(1, "man"): (57, 175), (1, "woman"): (140, 144), (1, "child"): (6, 6),
             (2, "man"): (14, 168), (2, "woman"): (80, 93), (2, "child"): (24, 24),
             (3, "man"): (75, 462), (3, "woman"): (76, 165), (3, "child"): (27, 79)}
    group = np.where(child, "child", np.where(male, "man", "woman"))
    base = np.array([(saved[(c, g)][0] + 0.5) / (saved[(c, g)][1] + 1)
                     for c, g in zip(pclass, group)])
    log_fare_z = np.zeros(n)
    for c in (1, 2, 3):
        m = pclass == c
        lf = np.log1p(fare[m])
        log_fare_z[m] = (lf - lf.mean()) / (lf.std() + 1e-9)
    shift = (-0.025 * (age - 30) * (~child) - 0.15 * age * child
             + 0.45 * log_fare_z
             + 0.5 * ((family >= 1) & (family <= 3)) - 1.5 * (family >= 5)
             + 0.35 * (embarked == "C") - 0.2 * (embarked == "Q"))
    cell = pclass * 10 + np.select([group == "man", group == "woman"], [0, 1], 2)
    for k in np.unique(cell):
        m = cell == k
        shift[m] -= shift[m].mean()
    survived = (rng.random(n) < _sigmoid(_logit(base) + shift)).astype(int)

    # Names: "Surname, Title. Given names"; nationality follows the port and the class.
    surname_lists = {"Q": _IRISH_SURNAMES,
                     "C": _FRENCH_SYRIAN_SURNAMES + _AMERICAN_SURNAMES,
                     "S1": _ENGLISH_SURNAMES + _AMERICAN_SURNAMES,
                     "S": _ENGLISH_SURNAMES + _NORDIC_SURNAMES + _IRISH_SURNAMES}
    married_woman = (~male) & (~child) & (age >= 20) & ((sibsp > 0) | (parch > 0)) & \
        (rng.random(n) < 0.8)
    names = []
    for i in range(n):
        key = embarked[i] if embarked[i] != "S" else ("S1" if pclass[i] == 1 else "S")
        surname = surname_lists[key][rng.integers(len(surname_lists[key]))]
        if male[i]:
            given = " ".join(rng.choice(_MALE_GIVEN, size=rng.integers(1, 3), replace=False))
            title = "Master" if child[i] else ("Mr" if rng.random() > 0.02 else
                                               rng.choice(["Dr", "Rev", "Col", "Major"]))
            names.append(f"{surname}, {title}. {given}")
        elif married_woman[i]:
            husband = rng.choice(_MALE_GIVEN)
            own = rng.choice(_FEMALE_GIVEN)
            maiden = rng.choice(_ENGLISH_SURNAMES + _IRISH_SURNAMES + _NORDIC_SURNAMES)
            names.append(f"{surname}, Mrs. {husband} ({own} {maiden})")
        else:
            given = " ".join(rng.choice(_FEMALE_GIVEN, size=rng.integers(1, 3), replace=False))
            names.append(f"{surname}, Miss. {given}")

    # Tickets: the formats of the passenger list, by class.
    tickets = []
    for c in pclass:
        r = rng.random()
        if c == 1:
            t = (f"PC {rng.integers(17000, 17800)}" if r < 0.35 else
                 str(rng.integers(110000, 113999)))
        elif c == 2:
            t = (f"C.A. {rng.integers(2000, 34000)}" if r < 0.2 else
                 f"SC/PARIS {rng.integers(2100, 2170)}" if r < 0.3 else
                 str(rng.integers(230000, 250700)))
        else:
            t = (f"A/5 {rng.integers(2000, 21200)}" if r < 0.15 else
                 f"STON/O2. {rng.integers(3101200, 3101300)}" if r < 0.25 else
                 str(rng.integers(315000, 370000)))
        tickets.append(t)

    # Cabin: known mostly in first class; decks by class.
    cabin_known = rng.random(n) < np.array([0.81, 0.09, 0.025])[ci]
    deck = _cond_choice(rng, pclass, {1: {"A": 7, "B": 24, "C": 30, "D": 17, "E": 16, "T": 1},
                                      2: {"D": 4, "E": 4, "F": 8},
                                      3: {"E": 3, "F": 5, "G": 4}})
    cabin = np.array([f"{d}{rng.integers(2, 149)}" for d in deck], dtype=object)
    cabin[~cabin_known] = np.nan

    age = age.astype(float)
    age[rng.random(n) < np.array([0.12, 0.06, 0.29])[ci]] = np.nan   # depends on Pclass
    fare[rng.random(n) < 0.01] = np.nan                                # MCAR
    embarked[rng.random(n) < 0.005] = np.nan                           # MCAR

    df = pd.DataFrame({"PassengerId": np.arange(1, n + 1), "Survived": survived,
                       "Pclass": pclass, "Name": names, "Sex": sex, "Age": age,
                       "SibSp": sibsp, "Parch": parch, "Ticket": tickets, "Fare": fare,
                       "Cabin": cabin, "Embarked": embarked, "Alone": alone})
    return Table("titanic", df, "Survived", "classification",
                 numeric=["Pclass", "Age", "SibSp", "Parch", "Fare"],
                 categorical=["Sex", "Embarked", "Alone"],
                 ignore=["PassengerId", "Name", "Ticket", "Cabin"],
                 source="synthetic: 1912 Board of Trade survival figures by class, sex and "
                        "age group; Encyclopedia Titanica passenger-list distributions")


# ----------------------------------------------------------------------------- adult
# UCI Adult (Becker & Kohavi 1996, extracted by Barry Becker from the 1994 Census
# database; https://doi.org/10.24432/C5XW20), training file adult.data, 32,561 rows,
# 24.08 % >50K. Figures below counted in that file: share of rows (%) and share of
# them with income >50K (%).
_EDUCATION = {  # level: (education-num, share %, >50K %)
    "Preschool": (1, 0.16, 0.0), "1st-4th": (2, 0.52, 3.57), "5th-6th": (3, 1.02, 4.80),
    "7th-8th": (4, 1.98, 6.19), "9th": (5, 1.58, 5.25), "10th": (6, 2.87, 6.65),
    "11th": (7, 3.61, 5.11), "12th": (8, 1.33, 7.62), "HS-grad": (9, 32.25, 15.95),
    "Some-college": (10, 22.39, 19.02), "Assoc-voc": (11, 4.24, 26.12),
    "Assoc-acdm": (12, 3.28, 24.84), "Bachelors": (13, 16.45, 41.48),
    "Masters": (14, 5.29, 55.66), "Prof-school": (15, 1.77, 73.44),
    "Doctorate": (16, 1.27, 74.09)}
_OCCUPATION = {  # level: (% of women, % of men, >50K %); "?" is 7.8 % / 4.6 % of them
    "Prof-specialty": (14.1, 12.0, 44.90), "Craft-repair": (2.1, 17.8, 22.66),
    "Exec-managerial": (10.8, 13.3, 48.40), "Adm-clerical": (23.6, 5.7, 13.45),
    "Sales": (11.7, 11.0, 26.93), "Other-service": (16.7, 6.9, 4.16),
    "Machine-op-inspct": (5.1, 6.7, 12.49), "Transport-moving": (0.8, 6.9, 20.04),
    "Handlers-cleaners": (1.5, 5.5, 6.28), "Farming-fishing": (0.6, 4.3, 11.57),
    "Tech-support": (3.2, 2.7, 30.50), "Protective-serv": (0.7, 2.6, 32.51),
    "Priv-house-serv": (1.3, 0.02, 0.67), "Armed-Forces": (0.0, 0.04, 11.11)}
_MARITAL = {  # level: >50K %
    "Married-civ-spouse": 44.68, "Never-married": 4.60, "Divorced": 10.42,
    "Separated": 6.44, "Widowed": 8.56, "Married-spouse-absent": 8.13,
    "Married-AF-spouse": 43.48}
# Marital status by age band (<20, 20-24, 25-34, 35-49, 50-64, 65+): never married,
# married (civilian spouse), widowed, divorced, in the file; the rest separated or
# spouse absent.
_MARITAL_BY_AGE = [(97.3, 1.4, 0.1, 0.4), (83.8, 11.4, 0.1, 2.1), (43.0, 41.3, 0.3, 10.4),
                   (14.7, 57.5, 1.6, 20.4), (6.5, 64.0, 7.5, 17.8), (6.5, 56.0, 25.9, 9.1)]
_UNKNOWN_JOB_BY_AGE = [16.2, 9.3, 3.3, 2.1, 6.0, 25.8]   # % with workclass = occupation = "?"
_HOURS_BY_AGE = [26.9, 35.6, 42.1, 43.4, 41.7, 29.8]      # mean hours-per-week
_RACE = {"White": (85.43, 25.59), "Black": (9.59, 12.39), "Asian-Pac-Islander": (3.19, 26.56),
         "Amer-Indian-Eskimo": (0.96, 11.58), "Other": (0.83, 9.23)}
_WORKCLASS = {"Private": (69.70, 21.87), "Self-emp-not-inc": (7.80, 28.49),
              "Local-gov": (6.43, 29.48), "State-gov": (3.99, 27.20),
              "Self-emp-inc": (3.43, 55.73), "Federal-gov": (2.95, 38.65),
              "Without-pay": (0.04, 0.0)}
_COUNTRY = {"United-States": 89.59, "Mexico": 1.97, "Philippines": 0.61, "Germany": 0.42,
            "Canada": 0.37, "Puerto-Rico": 0.35, "El-Salvador": 0.33, "India": 0.31,
            "Cuba": 0.29, "England": 0.28, "Jamaica": 0.25, "South": 0.25, "China": 0.23,
            "Italy": 0.22, "Dominican-Republic": 0.21, "Vietnam": 0.21, "Guatemala": 0.20,
            "Japan": 0.19, "Poland": 0.18, "Columbia": 0.18, "Taiwan": 0.16}


def make_adult(n=3000, seed=0):
    """An "adult census income"-like table (classification: `income` <=50K / >50K).

    Source of the figures: the UCI Adult data set (Becker & Kohavi 1996, an extract of
    the 1994 US Census database; https://doi.org/10.24432/C5XW20), its training file
    adult.data (32,561 rows, 24.08 % >50K). Counted in that file (tables above): the
    shares and >50K rates of each education level, occupation (by sex), marital status
    (by age band), race, workclass and native country; age (17-90, mean 38.6, sd 13.6,
    right-skewed); 66.9 % men; hours-per-week (47 % exactly 40; mean 42.4 for men, 36.4
    for women, lower under 25 and over 64); capital-gain (8.3 % non-zero, more often
    with age and education, median 7,298 when non-zero, 0.5 % top-coded 99999; 98.6 %
    of those with 7,000 or more earn >50K); capital-loss (4.7 % non-zero, median 1,887;
    85 % >50K between 1,800 and 2,000); fnlwgt (census weight, median 178,356, unrelated
    to income). Workclass and occupation are "?" together for 5.6 % of rows, by age
    band 16 % under 20, 2-3 % at 25-49 and 26 % at 65 and over (missingness that
    depends on another column, as in the file); native-country is "?" for 1.8 % (at
    random here); hours-per-week is an empty cell for 2 % at random (not in the file).
    Added columns, not in the UCI file: `person_id` (identifier) and `veteran` (yes/no;
    about 1 in 3 men over 45 and 1-2 % of women, the order of the 1990 Census count of
    about 27 million veterans, nearly all men).
    Income: log-odds = sum of each feature's log-odds ratio against the 24 % base rate
    as counted in the file, shrunk because the features overlap, plus an age curve
    peaking near 50, hours, capital gain and loss; the intercept is set so that 24 %
    earn >50K. Expected accuracy of a good model: about 0.82-0.86 (0.85-0.87 on the
    real file).
    """
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(17 + rng.gamma(2.52, 8.56, n)), 17, 90).astype(int)
    band = np.digitize(age, [20, 25, 35, 50, 65])
    male = rng.random(n) < 0.669
    sex = np.where(male, "Male", "Female")
    education = _choice(rng, {k: v[1] for k, v in _EDUCATION.items()}, n)
    edu_num = np.array([_EDUCATION[e][0] for e in education])
    race = _choice(rng, {k: v[0] for k, v in _RACE.items()}, n)

    marital = _cond_choice(rng, band, {
        b: {"Never-married": nv, "Married-civ-spouse": mar, "Widowed": wid, "Divorced": div,
            "Separated": (100 - nv - mar - wid - div) * 0.68,
            "Married-spouse-absent": (100 - nv - mar - wid - div) * 0.3,
            "Married-AF-spouse": (100 - nv - mar - wid - div) * 0.02}
        for b, (nv, mar, wid, div) in enumerate(_MARITAL_BY_AGE)})
    widow_swap = (~male) & (age >= 55) & (marital == "Married-civ-spouse") & (rng.random(n) < 0.3)
    marital[widow_swap] = "Widowed"
    married = np.isin(marital, ["Married-civ-spouse", "Married-AF-spouse"])
    relationship = np.where(married, np.where(male, "Husband", "Wife"), "Not-in-family")
    r = rng.random(n)
    own_child = (~married) & (age < 30) & (r < 0.6)
    relationship = np.where(own_child, "Own-child", relationship)
    relationship = np.where((~married) & (~own_child) & (r > 0.65),
                            np.where(rng.random(n) < 0.78, "Unmarried", "Other-relative"),
                            relationship)

    # Occupation: the file's shares for each sex, reweighted by education group.
    edu_group = np.digitize(edu_num, [9, 10, 13])  # 0 <HS, 1 HS, 2 college/assoc, 3 BA+
    by_edu = {"Prof-specialty": [0.1, 0.3, 0.7, 3.3], "Exec-managerial": [0.3, 0.6, 1.0, 2.0],
              "Tech-support": [0.2, 0.6, 1.5, 1.0], "Sales": [0.7, 1.0, 1.2, 0.9],
              "Adm-clerical": [0.5, 1.1, 1.4, 0.5], "Craft-repair": [1.4, 1.6, 1.0, 0.25],
              "Other-service": [2.2, 1.3, 0.9, 0.25], "Machine-op-inspct": [2.0, 1.5, 0.6, 0.15],
              "Transport-moving": [1.6, 1.5, 0.8, 0.2], "Handlers-cleaners": [2.3, 1.4, 0.7, 0.15],
              "Farming-fishing": [2.5, 1.2, 0.6, 0.3], "Protective-serv": [0.5, 1.0, 1.5, 0.6],
              "Priv-house-serv": [3.0, 1.0, 0.4, 0.1], "Armed-Forces": [0.5, 1.0, 1.0, 1.0]}
    occupation = np.empty(n, dtype=object)
    for g in range(4):
        for is_male in (False, True):
            idx = np.flatnonzero((edu_group == g) & (male == is_male))
            w = {o: v[int(is_male)] * by_edu[o][g] for o, v in _OCCUPATION.items()}
            if len(idx):
                occupation[idx] = _choice(rng, w, len(idx))
    workclass = _choice(rng, {k: v[0] for k, v in _WORKCLASS.items()}, n)
    workclass[occupation == "Armed-Forces"] = "Federal-gov"

    hours = np.array(_HOURS_BY_AGE)[band] + np.where(male, 2.0, -4.0)
    hours = np.where(rng.random(n) < 0.47 * np.where((band == 0) | (band == 5), 0.4, 1.0),
                     40.0, rng.normal(hours, 11.0))
    hours = np.clip(np.round(hours), 1, 99)

    p_gain = (np.array([0.026, 0.026, 0.062, 0.105, 0.107, 0.178])[band]
              * np.interp(edu_num, [1, 9, 13, 14, 15, 16], [0.6, 0.8, 1.4, 1.9, 3.0, 2.2]))
    gain = np.where(rng.random(n) < p_gain,
                    np.where(rng.random(n) < 0.059, 99999,
                             np.clip(np.round(rng.lognormal(np.log(7298), 0.75, n)), 114, 41310)),
                    0).astype(int)
    loss = np.where((rng.random(n) < 0.047) & (gain == 0),
                    np.clip(np.round(rng.normal(1871, 377, n)), 155, 4356), 0).astype(int)
    fnlwgt = np.round(rng.lognormal(np.log(178356), 0.5, n)).astype(int)
    country = _choice(rng, _COUNTRY, n)
    veteran = rng.random(n) < np.where(male, np.select([age < 30, age < 45, age < 65],
                                                       [0.05, 0.15, 0.35], 0.5), 0.015)

    # Income.
    def lor(rate_pct):
        return _logit(np.maximum(np.asarray(rate_pct, dtype=float), 1.0) / 100.0) - _logit(0.2408)
    z = (0.95 * lor([_EDUCATION[e][2] for e in education])
         + 0.6 * lor([_OCCUPATION[o][2] for o in occupation])
         + 0.9 * lor([_MARITAL[m] for m in marital])
         + 0.3 * np.where(male, lor(30.57), lor(10.95))
         + 0.3 * lor([_RACE[x][1] for x in race])
         + 0.4 * lor([_WORKCLASS[w][1] for w in workclass])
         + 1.4 * (1 - ((age - 50) / 28.0) ** 2).clip(-1.5, None)
         + 0.035 * (hours - 40)
         + 5.0 * (gain >= 7000) + 0.2 * ((gain > 0) & (gain < 7000))
         + 2.0 * ((loss >= 1800) & (loss <= 2000))
         - 0.5 * (country == "Mexico") + 0.1 * veteran)
    income_hi = rng.random(n) < _sigmoid(z + _calibrate(z, 0.2408))

    # Missing values: "?" for workclass + occupation (depends on age), native-country
    # (at random); empty hours-per-week (at random).
    unknown_job = rng.random(n) < np.array(_UNKNOWN_JOB_BY_AGE)[band] / 100
    workclass[unknown_job] = "?"
    occupation[unknown_job] = "?"
    country[rng.random(n) < 0.018] = "?"
    hours_col = hours.astype(float)
    hours_col[rng.random(n) < 0.02] = np.nan

    ids = rng.choice(np.arange(10000, 100000), size=n, replace=False)
    df = pd.DataFrame({"person_id": [f"P{i:05d}" for i in ids], "age": age,
                       "workclass": workclass, "fnlwgt": fnlwgt, "education": education,
                       "education-num": edu_num, "marital-status": marital,
                       "occupation": occupation, "relationship": relationship, "race": race,
                       "sex": sex, "capital-gain": gain, "capital-loss": loss,
                       "hours-per-week": hours_col, "native-country": country,
                       "veteran": np.where(veteran, "yes", "no"),
                       "income": np.where(income_hi, ">50K", "<=50K")})
    return Table("adult", df, "income", "classification",
                 numeric=["age", "fnlwgt", "education-num", "capital-gain", "capital-loss",
                          "hours-per-week"],
                 categorical=["workclass", "education", "marital-status", "occupation",
                              "relationship", "race", "sex", "native-country", "veteran"],
                 ignore=["person_id"],
                 source="synthetic: UCI Adult (1994 Census extract) shares and >50K rates "
                        "per level")


# ----------------------------------------------------------------------------- insurance
def make_insurance(n=1500, seed=0):
    """A medical-insurance-charges table (regression: `charges`, US dollars a year).

    Sources of the figures: the "insurance" data set of Brett Lantz, "Machine Learning
    with R" (Packt, 2013; 1,338 rows, simulated by the author from US Census Bureau
    demographic statistics; github.com/stedy/Machine-Learning-with-R-datasets, and
    Kaggle's "Medical Cost Personal Datasets"), counted in that file: age 18-64 (18 and
    19 over-represented: 69 and 68 rows), 50.5 % male, BMI mean 30.66 sd 6.10 (15.96 to
    53.13), children 0-5 (42.9 / 24.2 / 17.9 / 11.7 / 1.9 / 1.3 %), 20.5 % smokers,
    regions southeast 27.2 %, the others 24.2-24.3 % each. Charges follow the book's
    improved linear model, refitted on that file here (R^2 0.866, residual standard
    error 4,445, MAE 2,404): 134.25 - 32.69 age + 3.73 age^2 + 678.56 children + 120.02
    bmi - 496.82 male - 1000.14 [bmi >= 30] + 13404.69 smoker - 279.20 northwest
    - 828.55 southeast - 1222.64 southwest + 19810.75 [bmi >= 30 and smoker]. Its
    residuals are skewed: most lie within about 1,000 of -1,300, and 8.4 % are large
    and positive (mean 13,700); the noise here is normal (sd 700) plus, for 8.5 % of
    people, a gamma extra cost of mean 13,700 and sd 6,100, centred to mean 0; charges
    at least 1,121.87 (the file's minimum).
    Missing values (not in the book's file): BMI empty for 2 % of people under 40, 5 %
    at 40-49 and 10 % at 50 and over (missingness that depends on age), region empty
    for 3 % at random. Added columns, not in the book's file: `customer_id`
    (identifier) and `name` (policyholder, from name lists).
    Expected MAE of a good model: about 2,400-2,800 (of a least-squares fit of the
    true model: about 2,400; of predicting the median: about 9,000).
    """
    rng = np.random.default_rng(seed)
    age = np.where(rng.random(n) < 0.10, rng.integers(18, 20, n), rng.integers(20, 65, n))
    male = rng.random(n) < 0.505
    bmi = np.round(np.clip(rng.normal(30.66, 6.10, n), 15.96, 53.13), 2)
    children = rng.choice(6, size=n, p=[0.429, 0.242, 0.179, 0.117, 0.019, 0.014])
    smoker = rng.random(n) < 0.205
    region = _choice(rng, {"southeast": 27.2, "southwest": 24.3, "northwest": 24.3,
                           "northeast": 24.2}, n)
    obese = bmi >= 30
    charges = (134.25 - 32.68 * age + 3.73 * age ** 2 + 678.56 * children + 120.02 * bmi
               - 496.82 * male - 1000.14 * obese + 13404.69 * smoker
               - 279.20 * (region == "northwest") - 828.55 * (region == "southeast")
               - 1222.64 * (region == "southwest") + 19810.75 * (obese & smoker))
    extra = np.where(rng.random(n) < 0.085, rng.gamma(5.05, 13700.0 / 5.05, n), 0.0)
    charges = charges + rng.normal(0, 700, n) + extra - 0.085 * 13700.0
    charges = np.round(np.maximum(charges, 1121.87), 2)

    bmi_col = bmi.astype(float)
    bmi_col[rng.random(n) < np.select([age < 40, age >= 50], [0.02, 0.10], 0.05)] = np.nan
    region_col = region.copy()
    region_col[rng.random(n) < 0.03] = np.nan
    given = np.where(male, rng.choice(_MALE_GIVEN, n), rng.choice(_FEMALE_GIVEN, n))
    surnames = _ENGLISH_SURNAMES + _IRISH_SURNAMES + _AMERICAN_SURNAMES + _NORDIC_SURNAMES
    names = [f"{g} {surnames[rng.integers(len(surnames))]}" for g in given]
    df = pd.DataFrame({"customer_id": rng.choice(np.arange(100000, 999999), n, replace=False),
                       "name": names, "age": age, "sex": np.where(male, "male", "female"),
                       "bmi": bmi_col, "children": children,
                       "smoker": np.where(smoker, "yes", "no"), "region": region_col,
                       "charges": charges})
    return Table("insurance", df, "charges", "regression",
                 numeric=["age", "bmi", "children"],
                 categorical=["sex", "smoker", "region"],
                 ignore=["customer_id", "name"],
                 source="synthetic: Lantz (2013) insurance data distributions and its "
                        "published regression model")


# ----------------------------------------------------------------------------- registry
LOADERS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer,
           "diabetes": load_diabetes, "penguins": load_penguins,
           "penguins_raw": load_penguins_raw, "titanic": make_titanic, "adult": make_adult,
           "insurance": make_insurance}


def load(name):
    """The Table for `name`, or None when it cannot be built here (see skip_reason)."""
    if name not in LOADERS:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(LOADERS)}")
    return LOADERS[name]()


def _report():
    for name in LOADERS:
        t = load(name)
        if t is None:
            print(f"{name}: skipped ({skip_reason.get(name, '')})")
            continue
        df = t.frame
        na = {c: int(v) for c, v in df.isna().sum().items() if v}
        q = {c: int(v) for c, v in (df.astype(str) == "?").sum().items() if v}
        print(f"{name}: {len(df)} rows x {len(df.columns)} columns, target {t.target!r} "
              f"({t.task}); empty cells: {na or 'none'}" + (f"; '?': {q}" if q else ""))
        if t.task == "classification":
            print("   classes:", {str(k): int(v) for k, v in df[t.target].value_counts().items()})
        else:
            print(f"   target mean {df[t.target].mean():.1f}, sd {df[t.target].std():.1f}")
    t = make_titanic().frame
    print("\ntitanic survival by class and sex (generated; inquiry adults: 1st m .33 w .97, "
          "2nd m .08 w .86, 3rd m .16 w .46):")
    print(t.groupby(["Pclass", "Sex"])["Survived"].mean().round(2).unstack())
    print(f"age missing {t['Age'].isna().mean():.3f}, survived {t['Survived'].mean():.3f} "
          f"(inquiry: passengers 499 / 1316 = 0.379)")
    a = make_adult().frame
    hi = a["income"] == ">50K"
    print(f"\nadult >50K {hi.mean():.3f} (UCI 0.24); by education (generated vs published):")
    for e, (_, _, rate) in _EDUCATION.items():
        m = a["education"] == e
        if m.sum() >= 20:
            print(f"   {e:<13} {hi[m].mean():.2f} vs {rate / 100:.2f}  (n={m.sum()})")
    print(f"   '?' occupation {(a['occupation'] == '?').mean():.3f} (UCI 0.057)")
    s = make_insurance().frame
    print(f"\ninsurance charges mean {s['charges'].mean():.0f} (Lantz 13,270), median "
          f"{s['charges'].median():.0f} (9,382), sd {s['charges'].std():.0f} (12,110)")


if __name__ == "__main__":
    _report()
