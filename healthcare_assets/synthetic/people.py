"""People and places the generator draws from: names, streets, towns with their ZIP codes and time zones.

Everything here is fictional or public geography. Towns marked ``restricted`` lie in one of the HIPAA Safe Harbor
*restricted ZIP3* areas (three-digit ZIP prefixes covering 20,000 people or fewer, which must be reported as
``000``), so that the de-identification stage meets them in the data.
"""

from __future__ import annotations

from dataclasses import dataclass

# The 3-digit ZIP prefixes that Safe Harbor (45 CFR 164.514(b)(2)(i)(B)) requires to be replaced by 000
# (2000 Census list, still the one HHS publishes).
RESTRICTED_ZIP3: frozenset[str] = frozenset(
    {
        "036", "059", "063", "102", "203", "205", "369", "556", "692", "790",
        "821", "823", "830", "831", "878", "879", "884", "890", "893",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Place:
    """A town patients live in. ``hospital`` places get a hospital and two clinics; others use the nearest."""

    city: str
    state: str  # full name, as Synthea writes Patient.address.state
    abbr: str  # two letters, as Synthea writes Organization.address.state
    fips: str  # state FIPS code, used in the driver's licence OID
    zips: tuple[str, ...]
    lat: float
    lon: float
    std_offset: int  # hours from UTC in winter
    dst: bool  # observes US daylight saving time
    weight: float  # relative share of patients
    hospital: bool


def _p(city, state, abbr, fips, zips, lat, lon, off, dst, weight, hospital=True) -> Place:
    return Place(city, state, abbr, fips, tuple(zips), lat, lon, off, dst, weight, hospital)


PLACES: tuple[Place, ...] = (
    _p("Boston", "Massachusetts", "MA", "25", ["02118", "02115", "02130"], 42.3601, -71.0589, -5, True, 5.0),
    _p("Springfield", "Massachusetts", "MA", "25", ["01103", "01109"], 42.1015, -72.5898, -5, True, 2.0),
    _p("Worcester", "Massachusetts", "MA", "25", ["01608", "01604"], 42.2626, -71.8023, -5, True, 2.0),
    _p("Providence", "Rhode Island", "RI", "44", ["02903", "02908"], 41.8240, -71.4128, -5, True, 2.0),
    _p("Hartford", "Connecticut", "CT", "09", ["06103", "06106"], 41.7658, -72.6734, -5, True, 2.0),
    _p("Manchester", "New Hampshire", "NH", "33", ["03101", "03103"], 42.9956, -71.4548, -5, True, 1.0),
    _p("Burlington", "Vermont", "VT", "50", ["05401", "05403"], 44.4759, -73.2121, -5, True, 1.0),
    _p("New York", "New York", "NY", "36", ["10027", "10032", "11201"], 40.7128, -74.0060, -5, True, 8.0),
    _p("Philadelphia", "Pennsylvania", "PA", "42", ["19104", "19140"], 39.9526, -75.1652, -5, True, 4.0),
    _p("Baltimore", "Maryland", "MD", "24", ["21201", "21215"], 39.2904, -76.6122, -5, True, 3.0),
    _p("Washington", "District of Columbia", "DC", "11", ["20001", "20010"], 38.9072, -77.0369, -5, True, 2.0),
    _p("Charlotte", "North Carolina", "NC", "37", ["28203", "28205"], 35.2271, -80.8431, -5, True, 3.0),
    _p("Atlanta", "Georgia", "GA", "13", ["30303", "30310"], 33.7490, -84.3880, -5, True, 4.0),
    _p("Miami", "Florida", "FL", "12", ["33125", "33136"], 25.7617, -80.1918, -5, True, 4.0),
    _p("Columbus", "Ohio", "OH", "39", ["43210", "43205"], 39.9612, -82.9988, -5, True, 3.0),
    _p("Detroit", "Michigan", "MI", "26", ["48201", "48235"], 42.3314, -83.0458, -5, True, 3.0),
    _p("Chicago", "Illinois", "IL", "17", ["60612", "60637"], 41.8781, -87.6298, -6, True, 6.0),
    _p("Minneapolis", "Minnesota", "MN", "27", ["55414", "55407"], 44.9778, -93.2650, -6, True, 3.0),
    _p("Duluth", "Minnesota", "MN", "27", ["55802", "55805"], 46.7867, -92.1005, -6, True, 0.8),
    _p("Omaha", "Nebraska", "NE", "31", ["68105", "68131"], 41.2565, -95.9345, -6, True, 1.5),
    _p("Nashville", "Tennessee", "TN", "47", ["37203", "37208"], 36.1627, -86.7816, -6, True, 3.0),
    _p("Birmingham", "Alabama", "AL", "01", ["35233", "35205"], 33.5186, -86.8104, -6, True, 1.5),
    _p("Jackson", "Mississippi", "MS", "28", ["39201", "39216"], 32.2988, -90.1848, -6, True, 1.5),
    _p("Houston", "Texas", "TX", "48", ["77030", "77004"], 29.7604, -95.3698, -6, True, 5.0),
    _p("Dallas", "Texas", "TX", "48", ["75201", "75216"], 32.7767, -96.7970, -6, True, 4.0),
    _p("Denver", "Colorado", "CO", "08", ["80204", "80218"], 39.7392, -104.9903, -7, True, 3.0),
    _p("Cheyenne", "Wyoming", "WY", "56", ["82001", "82009"], 41.1400, -104.8202, -7, True, 1.0),
    _p("Albuquerque", "New Mexico", "NM", "35", ["87102", "87106"], 35.0844, -106.6504, -7, True, 2.0),
    _p("Salt Lake City", "Utah", "UT", "49", ["84102", "84112"], 40.7608, -111.8910, -7, True, 2.0),
    _p("Phoenix", "Arizona", "AZ", "04", ["85004", "85006"], 33.4484, -112.0740, -7, False, 3.0),
    _p("Las Vegas", "Nevada", "NV", "32", ["89102", "89109"], 36.1699, -115.1398, -8, True, 2.0),
    _p("Los Angeles", "California", "CA", "06", ["90033", "90027"], 34.0522, -118.2437, -8, True, 6.0),
    _p("San Francisco", "California", "CA", "06", ["94110", "94143"], 37.7749, -122.4194, -8, True, 3.0),
    _p("Seattle", "Washington", "WA", "53", ["98104", "98122"], 47.6062, -122.3321, -8, True, 3.0),
    # Towns in restricted ZIP3 areas (no hospital of their own: patients use the nearest one).
    _p("Claremont", "New Hampshire", "NH", "33", ["03743"], 43.3767, -72.3468, -5, True, 0.25, False),
    _p("St. Johnsbury", "Vermont", "VT", "50", ["05819"], 44.4192, -72.0151, -5, True, 0.25, False),
    _p("Norwich", "Connecticut", "CT", "09", ["06360"], 41.5243, -72.0759, -5, True, 0.25, False),
    _p("New York", "New York", "NY", "36", ["10281", "10282"], 40.7146, -74.0162, -5, True, 0.25, False),
    _p("Washington", "District of Columbia", "DC", "11", ["20317", "20319"], 38.8690, -77.0100, -5, True, 0.25, False),
    _p("Washington", "District of Columbia", "DC", "11", ["20520", "20535"], 38.8943, -77.0484, -5, True, 0.25, False),
    _p("Butler", "Alabama", "AL", "01", ["36904"], 32.0893, -88.2220, -6, True, 0.25, False),
    _p("Grand Marais", "Minnesota", "MN", "27", ["55604"], 47.7505, -90.3343, -6, True, 0.25, False),
    _p("Valentine", "Nebraska", "NE", "31", ["69201"], 42.8728, -100.5510, -6, True, 0.25, False),
    _p("Pampa", "Texas", "TX", "48", ["79065"], 35.5362, -100.9599, -6, True, 0.25, False),
    _p("Mammoth Hot Springs", "Wyoming", "WY", "56", ["82190"], 44.9766, -110.7013, -7, True, 0.25, False),
    _p("Rawlins", "Wyoming", "WY", "56", ["82301"], 41.7911, -107.2387, -7, True, 0.25, False),
    _p("Jackson", "Wyoming", "WY", "56", ["83001"], 43.4799, -110.7624, -7, True, 0.25, False),
    _p("Kemmerer", "Wyoming", "WY", "56", ["83101"], 41.7925, -110.5374, -7, True, 0.25, False),
    _p("Socorro", "New Mexico", "NM", "35", ["87801"], 34.0584, -106.8914, -7, True, 0.25, False),
    _p("Truth or Consequences", "New Mexico", "NM", "35", ["87901"], 33.1284, -107.2528, -7, True, 0.25, False),
    _p("Tucumcari", "New Mexico", "NM", "35", ["88401"], 35.1717, -103.7250, -7, True, 0.25, False),
    _p("Beatty", "Nevada", "NV", "32", ["89003"], 36.9086, -116.7592, -8, True, 0.25, False),
    _p("Ely", "Nevada", "NV", "32", ["89301"], 39.2474, -114.8886, -8, True, 0.25, False),
)

FOREIGN_BIRTHPLACES: tuple[tuple[str, str, str], ...] = (
    ("Guadalajara", "Jalisco", "MX"),
    ("Monterrey", "Nuevo Leon", "MX"),
    ("Santo Domingo", "Distrito Nacional", "DO"),
    ("San Juan", "Puerto Rico", "US"),
    ("Manila", "Metro Manila", "PH"),
    ("Ho Chi Minh City", "Ho Chi Minh City", "VN"),
    ("Lagos", "Lagos", "NG"),
    ("Kingston", "Kingston", "JM"),
    ("Shanghai", "Shanghai", "CN"),
    ("Mumbai", "Maharashtra", "IN"),
    ("Port-au-Prince", "Ouest", "HT"),
    ("Dublin", "Leinster", "IE"),
)

MALE_GIVEN: tuple[str, ...] = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
    "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
    "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
    "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Brandon",
    "Benjamin", "Samuel", "Gregory", "Alexander", "Frank", "Patrick", "Raymond", "Jack", "Dennis", "Jerry",
    "Tyler", "Aaron", "Jose", "Adam", "Nathan", "Henry", "Douglas", "Zachary", "Peter", "Kyle",
    "Walter", "Ethan", "Jeremy", "Harold", "Keith", "Christian", "Roger", "Noah", "Gerald", "Carl",
    "Terry", "Sean", "Austin", "Arthur", "Lawrence", "Jesse", "Dylan", "Bryan", "Joe", "Jordan",
    "Abram", "Emory", "Chad", "Otis", "Luis", "Carlos", "Juan", "Miguel", "Wei", "Minh",
    "Hiroshi", "Tariq", "Kwame", "Darnell", "Malik", "Andre", "Rafael", "Diego", "Omar", "Rahul",
)  # fmt: skip

FEMALE_GIVEN: tuple[str, ...] = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
    "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
    "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia",
    "Kathleen", "Amy", "Angela", "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen",
    "Samantha", "Katherine", "Christine", "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather",
    "Diane", "Ruth", "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren", "Christina",
    "Joan", "Evelyn", "Judith", "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria",
    "Teresa", "Ann", "Sara", "Madison", "Frances", "Kathryn", "Janice", "Jean", "Abigail", "Alice",
    "Aleta", "Lettie", "Adriana", "Jani", "Guadalupe", "Rosa", "Carmen", "Lucia", "Mei", "Lan",
    "Yuki", "Aisha", "Fatima", "Keisha", "Latoya", "Imani", "Priya", "Ana", "Sofia", "Valentina",
)  # fmt: skip

FAMILY: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
    "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams", "Baker",
    "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards",
    "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Wood", "James",
    "Bennett", "Gray", "Hughes", "Price", "Sanders", "Myers", "Long", "Ross", "Foster", "Powell",
    "Lemke", "Wintheiser", "Kreiger", "Pfeffer", "Borrego", "Ortiz", "Swift", "Boyle", "Nikolaus", "Schmidt",
    "O'Connor", "McCarthy", "Sullivan", "Kowalski", "Novak", "Rossi", "Russo", "Cohen", "Levy", "Friedman",
    "Washington", "Jefferson", "Okafor", "Mensah", "Diallo", "Banks", "Freeman", "Gaines", "Dorsey", "Pierre",
)  # fmt: skip

HISPANIC_FAMILY: tuple[str, ...] = (
    "Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Perez", "Sanchez", "Ramirez", "Torres",
    "Flores", "Rivera", "Gomez", "Diaz", "Reyes", "Cruz", "Morales", "Gutierrez", "Ramos", "Castillo",
    "Jimenez", "Vasquez", "Romero", "Herrera", "Medina", "Aguilar", "Vargas", "Castro", "Mendoza", "Soto",
)  # fmt: skip

ASIAN_FAMILY: tuple[str, ...] = (
    "Nguyen", "Tran", "Le", "Pham", "Kim", "Lee", "Park", "Choi", "Wang", "Li",
    "Zhang", "Liu", "Chen", "Yang", "Huang", "Wu", "Patel", "Shah", "Singh", "Kumar",
    "Tanaka", "Suzuki", "Sato", "Yamamoto", "Santos", "Reyes", "Cruz", "Bautista", "Khan", "Ali",
)  # fmt: skip

NICKNAMES: dict[str, str] = {
    "William": "Bill", "Robert": "Bob", "Richard": "Dick", "James": "Jim", "Joseph": "Joe", "Thomas": "Tom",
    "Michael": "Mike", "Christopher": "Chris", "Daniel": "Dan", "Anthony": "Tony", "Edward": "Ed",
    "Elizabeth": "Liz", "Margaret": "Peggy", "Patricia": "Patty", "Jennifer": "Jen", "Katherine": "Kate",
    "Deborah": "Debbie", "Rebecca": "Becky", "Victoria": "Vicky", "Samantha": "Sam", "Alexander": "Alex",
}  # fmt: skip

STREET_NAMES: tuple[str, ...] = (
    "Maple", "Oak", "Pine", "Cedar", "Elm", "Walnut", "Chestnut", "Beech", "Willow", "Birch",
    "Washington", "Lincoln", "Jefferson", "Madison", "Franklin", "Jackson", "Adams", "Monroe", "Hamilton", "Grant",
    "Main", "Church", "Mill", "Park", "Spring", "Ridge", "Lake", "Hill", "River", "Meadow",
    "Nikolaus", "Harbor", "Sunset", "Highland", "Prospect", "Union", "Center", "Summit", "Valley", "Forest",
)  # fmt: skip

STREET_SUFFIXES: tuple[str, ...] = (
    "Street",
    "Avenue",
    "Road",
    "Lane",
    "Drive",
    "Court",
    "Way",
    "Gate",
    "Terrace",
    "Boulevard",
    "Place",
)

HOSPITAL_PATTERNS: tuple[str, ...] = (
    "{city} GENERAL HOSPITAL",
    "{city} MEDICAL CENTER",
    "MERCY HOSPITAL OF {city}",
    "ST. MARY'S HOSPITAL {city}",
    "{city} MEMORIAL HOSPITAL",
    "UNIVERSITY HOSPITAL {city}",
    "{city} REGIONAL MEDICAL CENTER",
    "HOLY CROSS HOSPITAL {city}",
)

CLINIC_PATTERNS: tuple[str, ...] = (
    "{city} FAMILY HEALTH CENTER",
    "{city} PRIMARY CARE ASSOCIATES",
    "{city} COMMUNITY HEALTH CENTER",
    "NEIGHBORHOOD HEALTH CLINIC {city}",
    "{city} INTERNAL MEDICINE GROUP",
)
