"""Small word lists behind the fact extractor: countries, major cities, first names.

Written for escalate, from general knowledge; they are deliberately short (a few
hundred entries) and cover the places and names a support desk meets most often. A
team with its own list passes it to :class:`~escalate.packet.facts.FactExtractor`.
"""

from __future__ import annotations

__all__ = ["AMBIGUOUS_PLACES", "CITIES", "COUNTRIES", "FIRST_NAMES", "NOT_NAMES"]

COUNTRIES: frozenset[str] = frozenset(
    """
Afghanistan|Albania|Algeria|Andorra|Angola|Argentina|Armenia|Australia|Austria|Azerbaijan|
Bahamas|Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bhutan|Bolivia|
Bosnia and Herzegovina|Botswana|Brazil|Brunei|Bulgaria|Burkina Faso|Burundi|Cambodia|
Cameroon|Canada|Cape Verde|Chile|China|Colombia|Costa Rica|Croatia|Cuba|Cyprus|Czechia|
Czech Republic|Denmark|Djibouti|Dominican Republic|Ecuador|Egypt|El Salvador|England|Estonia|
Eritrea|Eswatini|Ethiopia|Fiji|Finland|France|Gabon|Gambia|Germany|Ghana|Greece|Grenada|
Guatemala|Guinea|Guyana|Haiti|Honduras|Hong Kong|Hungary|Iceland|India|Indonesia|Iran|Iraq|
Ireland|Israel|Italy|Ivory Coast|Jamaica|Japan|Jordan|Kazakhstan|Kenya|Kosovo|Kuwait|
Kyrgyzstan|Laos|Latvia|Lebanon|Lesotho|Liberia|Libya|Liechtenstein|Lithuania|Luxembourg|
Madagascar|Malawi|Malaysia|Maldives|Mali|Malta|Mauritania|Mauritius|Mexico|Moldova|Monaco|
Mongolia|Montenegro|Morocco|Mozambique|Myanmar|Namibia|Nepal|Netherlands|New Zealand|
Nicaragua|Niger|Nigeria|North Korea|North Macedonia|Northern Ireland|Norway|Oman|Pakistan|
Panama|Papua New Guinea|Paraguay|Peru|Philippines|Poland|Portugal|Puerto Rico|Qatar|Romania|
Russia|Rwanda|Saudi Arabia|Scotland|Senegal|Serbia|Seychelles|Sierra Leone|Singapore|
Slovakia|Slovenia|Somalia|South Africa|South Korea|South Sudan|Spain|Sri Lanka|Sudan|
Suriname|Sweden|Switzerland|Syria|Taiwan|Tajikistan|Tanzania|Thailand|Togo|Trinidad and Tobago|
Tunisia|Turkey|Turkmenistan|Uganda|Ukraine|United Arab Emirates|UAE|United Kingdom|UK|
United States|United States of America|USA|US|Uruguay|Uzbekistan|Venezuela|Vietnam|Wales|
Yemen|Zambia|Zimbabwe|Great Britain|Britain|Holland|Korea|Emirates
""".replace("\n", "").split("|")
)

CITIES: frozenset[str] = frozenset(
    """
Aberdeen|Abu Dhabi|Accra|Adelaide|Amsterdam|Ankara|Antwerp|Athens|Atlanta|Auckland|Austin|
Baltimore|Bangkok|Barcelona|Basel|Beijing|Beirut|Belfast|Belgrade|Bergen|Berlin|Bern|
Bilbao|Birmingham|Bogota|Bologna|Bordeaux|Boston|Bratislava|Brighton|Brisbane|Bristol|
Brussels|Bucharest|Budapest|Buenos Aires|Cairo|Calgary|Cambridge|Canberra|Cape Town|Cardiff|
Casablanca|Charlotte|Chicago|Cincinnati|Cleveland|Cologne|Copenhagen|Cork|Coventry|Dallas|
Delhi|Denver|Detroit|Doha|Dubai|Dublin|Dundee|Durban|Dusseldorf|Edinburgh|Eindhoven|
Florence|Frankfurt|Galway|Gdansk|Geneva|Genoa|Ghent|Glasgow|Gothenburg|Granada|Graz|Hamburg|
Hanover|Helsinki|Hong Kong|Honolulu|Houston|Indianapolis|Istanbul|Jakarta|Jerusalem|
Johannesburg|Kansas City|Karachi|Kiev|Kyiv|Krakow|Kuala Lumpur|Lagos|Las Vegas|Leeds|
Leicester|Leipzig|Lille|Lima|Lisbon|Liverpool|Ljubljana|London|Los Angeles|Lyon|Madrid|
Malaga|Manchester|Manila|Marseille|Melbourne|Memphis|Mexico City|Miami|Milan|Milwaukee|
Minneapolis|Montreal|Moscow|Mumbai|Munich|Nairobi|Nantes|Naples|Nashville|New Delhi|
New Orleans|New York|New York City|Newcastle|Nice|Nottingham|Oakland|Orlando|Osaka|Oslo|
Ottawa|Oxford|Palermo|Paris|Perth|Philadelphia|Phoenix|Pittsburgh|Plymouth|Porto|Portland|
Prague|Quebec|Reykjavik|Riga|Rio de Janeiro|Riyadh|Rome|Rotterdam|Sacramento|Salt Lake City|
Salzburg|San Antonio|San Diego|San Francisco|San Jose|Santiago|Sao Paulo|Seattle|Seoul|
Seville|Shanghai|Sheffield|Singapore|Sofia|Southampton|St Louis|St. Louis|Stockholm|
Strasbourg|Stuttgart|Swansea|Sydney|Taipei|Tallinn|Tampa|Tel Aviv|The Hague|Tokyo|Toronto|
Toulouse|Turin|Utrecht|Valencia|Vancouver|Venice|Vienna|Vilnius|Warsaw|Washington|
Wellington|Winnipeg|Wroclaw|York|Zagreb|Zurich
""".replace("\n", "").split("|")
)

#: Places that are also everyday words or names: matched only when capitalised and after
#: a place cue ("to", "from", "in").
AMBIGUOUS_PLACES: frozenset[str] = frozenset(
    {"Nice", "Reading", "Bath", "Mobile", "Chad", "Jordan", "Georgia", "Turkey", "US", "York",
     "Phoenix", "Cork", "Washington", "Charlotte", "Niger", "Guinea", "Perth", "Oxford",
     "Cambridge", "Granada", "Santiago", "Paris", "Sydney", "Florence", "Austin", "Lima"}
)  # fmt: skip

FIRST_NAMES: frozenset[str] = frozenset(
    """
Aaron|Abigail|Adam|Adrian|Ahmed|Aisha|Alan|Albert|Alex|Alexander|Alexandra|Alice|Alison|
Amanda|Amelia|Amy|Ana|Andrea|Andrew|Angela|Anna|Anne|Anthony|Antonio|Arthur|Ava|Barbara|
Ben|Benjamin|Beth|Betty|Brian|Bruce|Carl|Carla|Carlos|Carmen|Caroline|Catherine|Charles|
Charlie|Charlotte|Chen|Chloe|Chris|Christina|Christine|Christopher|Claire|Daniel|Daniela|
David|Deborah|Dennis|Diana|Diego|Donald|Dorothy|Edward|Elena|Eleanor|Elizabeth|Ella|Emily|
Emma|Eric|Ethan|Eva|Fatima|Fiona|Francesca|Frank|Gary|George|Grace|Hannah|Harry|Helen|
Henry|Isabella|Jack|Jacob|James|Jane|Janet|Jason|Jennifer|Jessica|Joan|John|Jonathan|
Jorge|Jose|Joseph|Joshua|Juan|Julia|Karen|Kate|Katherine|Kelly|Kevin|Laura|Leo|Linda|
Lisa|Liam|Lucas|Lucy|Luis|Maria|Marie|Mark|Martin|Mary|Matthew|Megan|Mia|Michael|
Michelle|Mohammed|Muhammad|Nancy|Natalie|Nicole|Noah|Oliver|Olivia|Omar|Patricia|Patrick|
Paul|Peter|Priya|Rachel|Raj|Rebecca|Richard|Robert|Ryan|Samuel|Sandra|Sara|Sarah|Scott|
Sofia|Sophie|Stephen|Steven|Susan|Thomas|Tim|Timothy|Tom|Victoria|William|Yusuf|Zoe
""".replace("\n", "").split("|")
)

#: Capitalised words that start sentences or phrases and are never a name.
NOT_NAMES: frozenset[str] = frozenset(
    {"I", "Hi", "Hello", "Thanks", "Thank", "Please", "The", "My", "This", "That", "It",
     "Customer", "Support", "Service", "Team", "Account", "Order", "Invoice", "Bill",
     "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
     "January", "February", "March", "April", "May", "June", "July", "August",
     "September", "October", "November", "December", "Amazon", "Paypal", "PayPal", "Visa",
     "Mastercard", "Gold", "Platinum", "Premium", "Pro", "Standard", "Free", "Freemium"}
)  # fmt: skip
