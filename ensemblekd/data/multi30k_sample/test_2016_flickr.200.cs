Muž v oranžovém klobouku na něco zírá.
Bostonský teriér běží po zářivě zelené trávě před bílým plotem.
Dívka v uniformě na karate, která předním kopem láme dřívko.
Pět lidí v zimních bundách a s helmami stojí ve sněhu, se zasněženými skútry v pozadí.
Lidé opravují střechu domu.
Muž ve světlém oblečení fotografuje skupinu mužů v tmavých oblecích a v kloboucích stojících okolo ženy oblečené v šatech bez ramínek.
Skupina lidí stojící před iglú.
Chlapec v červeném dresu se snaží, aby se nevyoutoval na domácí metě, zatímco se chytač snaží chytit míček.
Chlapec pracující na stavbě.
Muž ve vestě sedí na židli a drží časopisy.
Matka a její mladý syn užívající si krásný den venku.
Muži hrající volejbal, jeden hráč minul míč, ale ruce má stále ve vzduchu.
Žena, která drží misku s jídlem v kuchyni.
Muž sedící u stolu v jeho domě používá nářadí.
Tři lidi sedí v jeskyni.
Dívka v džínových šatech, která jde po kladině.
Blondýna drží ruku chlápka v písku.
Žena v šedém svetru a černé kšiltovce stojí ve frontě v obchodě.
Osoba v pruhovaném triku leze po horách.
Dva muži předstírají, že jsou sochy, zatímco se na ně dívají ženy.
Lidé stojící před budovou.
Teenager hraje na svoji trumpetu na utkání na hřišti.
Žena dělá salto na trampolíně na pláži.
Muž stojí u automatů s videohrami v baru.
Žena používá vrtačku, zatímco si ji další muž fotí.
Žena v růžovém svetr a zástěře, která čistí stůl houbičkou.
Muž řezající větve stromů.
Skupina asijských chlapců čeká až se jim ugriluje maso.
Ženy v národních krojích předvádějí domorodý život.
Jeden muž drží hlavu druhému muži a chystá se jej uhodit do obličeje.
Šest lidí jedoucích na horských kolech uprostřed džungle.
Dvě blonďaté dívky sedí na římse na přeplněném náměstí.
Dítě se cachtá ve vodě
Tři lidé sedí u piknikového stolu venku před budovou pomalovanou britskou vlajkou.
3 chlapci v plavkách stojí na molu.
Zaměstnanec podává ženě tašku zatímco ona si prohlíží ryby na ledě na pouličním trhu.
Krásná žena hraje na cembalo.
Venku před budovou stojí strážník v uniformě a dívá se na kameru zpoza plotu.
Mladá dáma hledí na pizzu.
Muž bez trička a v šortkách rybaří, zatímco stojí na nějakých kamenech.
Dívka v záchranné vestě pluje po vodě.
Muž v uniformě a muž v modré košili stojí před kamionem.
Lidé sedí uvnitř vlaku.
Dítě se v lese houpe a má nohy do vzduchu.
Muž v červeném tričku vchází do podniku.
Dva muži, kteří na sobě mají bermudové plavky, skáčou na přiměřeně zalidněné pláži.
Batole vaří s jinou osobou.
Otec a dvě děti před jejich domem pracují na zahradě a na příklad používají motyku a sázejí strom.
Muž vaří na sporáku jídlo.
Muž v džínách na pláži si hraje s červeným míčem.
Lidé, kteří jdou po chodníku vedle řady obchodů.
Wakeboarder předvádí salto během toho, co je vlečen ve velké rychlosti.
Velká skupina lidí zaplňuje ulici.
Muž na lanovce vedoucí do vody.
Žena v džínách jde kolem autobusu, na němž je vyobrazená reklama se ženou, která se dívá přes své sluneční brýle.
Muž v růžovém triku sedí na trávě a ve vzduch je balon.
Auto zaparkované na pláži.
Dva muži v černém ve městě
Muž ve žlutých kalhotách zvedá nahoru ruce.
Dva muži, kteří mají kšiltovky a vycházkové hole, se prochází u vody při západu slunce.
Roztlečkávačský tým předvádí sestavu na židlích.
Chlapec hraje dámu s dospělým, který není v záběru zatímco je pozoruje dívka.
Dav lidí se baví ve veřejném parku.
Muž, který sedí na lavičce, drží svého psa a dívá se na vodu.
Chlapec a jeho mladší bratr, kteří si spolu hrají na hřišti.
Žena v modrém nahlíží do kožené taštičky, sedí na lavičce za slunečného odpoledne, zatímco kolem ní prochází lidé a za ní projíždí limuzína.
Hnědý pes stojí na pískové pláži.
Žena sedí s košíkem oblečení a je obklopená oblečením.
Muž griluje vzadu na dvorku.
Žena zpívá v klubu s kytaristou za ní.
Kytarista, který vystupuje v nočním klubu s červenou kytarou.
Dítě sedí na zahradním lehátku se kouká na kameru.
Dvě ženy a tři muži se dívají na oceán.
Interpretka s houslemi hraje na ulici zatímco ji pozoruje žena s modrou kytarou.
Mladá dívka plave v bazénu.
Několik dětí se venku připravuje na bitvu v přetahování o lano.
Tři náctiletí dovádějí v metru.
Hnědý pes s jazykem visícím ven kráčí v trávě.
Lidé sedící na trávě mimo budovu, kteří odpočívají.
Muž bez trička zírá do dálky zatímco tři ženy procházejí okolo davu sedícího na zahrádce restaurace.
Dva chlapci nandávají ovoce na kolo.
Muž v černém tričku, čepici a džínách hraje na vzhůru nohama položený žlutý kbelík.
Mladá umělkyně maluje obraz ženy na zeď.
Dvě spoluhráčky týmu USA skáčou do vzduchu a u toho si plácají a kolem nich jsou dvě další spoluhráčky.
Muž míchá hrnec s tekutinou v této kuchyni.
Chlapec wakeboarduje na jezeře.
Muž, který pracuje u stánku s párky v rohlíku.
Velká skupina lidí různého věku a pohlaví sedí venku pohromadě.
Blonďatá žena nalévá drinky na baru.
Malé dítě v modrobílém tričku radostně drží hračku žlutého plastového aligátora.
Žena s růžovými vlasy oblečená v černém mluví s mužem.
Muž v japonském kuchařském oděvu připravuje jídlo pro dvě osoby.
Dívka přeskakuje přes řeku z kamene na kámen.
Dělník s krabicí nářadí klečí vedle dvou žen.
Starší muž otevírá svou náruč a vypadá zmateně.
Dítě v karate obleku trénuje jakýsi pohyb
Tři lidé ve stejně barevných vestách jsou venku.
Žena fotografuje dítě s růžovým kloboučkem, zatímco jej muž nese.
Skupina převážně asijských dětí sedících v kabinách na modrých židlích.
Malý chlapec ve fotbalovém dresu si brečí do dlaní.
Šťastná žena připravuje v kavárně občerstvení.
Dělník řídí těžké vybavení na stavbě.
Žena se rozebíhá po tom, co trefila míček v ženském softballe, chytačka se staví na nohy.
Muž v pracovní uniformě podává nástroj další osobě.
Skupina lidí leze v chladném počasí.
Horolezec v modré helmě, který se chystá slaňovat ze skály.
Muž dělá stojku na vršku zakulacené sochy.
Dítě sedí v restauraci a drží si papírovou masku před obličejem.
Hnědý pes brodící se v jezeru, aby aportoval klacek.
Matka učí své dva chlapce rybařit na skalnatém pobřeží u velmi modré vody.
Malé dítě se prochází vedle červených transparentů.
Dívka sedí s mladším chlapcem na ozdobeném kole, zatímco další dívka je fotografuje.
Černý pes aportuje balonek ve vodě.
Muž v bílých kalhotech a modrém tričku kope do žlutého boxovacího pytle.
Dva indičtí muži se účastní ceremonie.
Chlapec s odřeným nosem a popsanýma rukama stojí ve videopůjčovně.
Dvě siluety lidí při západu slunce pádlují na kánoi po oceánu.
Lidé stojí v přeplněném metru a skrze okno je vidět na peron.
Muž leze po zdi s ohněm v ruce
Dva hnědí psi běží sněhem.
Fotografie z pódia malé kapely účinkující pro divadelní publikum.
Dítě ve vánočním oblečku se dívá na kameru.
Muž sedí u monitoru od počítače.
Tato žena slyšela srandovní vtip a směje se.
Lidé uvnitř budovy, jeden z nich fotografuje.
Čtyři bílí psi s náhubky skáčou přes červenou zeď.
Žena v modrém triku drží dítě.
Dva lidé sedí na pruhovaných lehátkách ve vodě a u toho rybaří.
Stará žena pracuje na tkalcovském stavu a vyrábí látku.
Na popředí stojí chlapec a dívá se na lidi na náměstí.
Muž v modrém kabátu, který popadl mladého chlapce za rameno.
Tři hnědí psi skáčou na ženu v modrém.
Chlapec visí z okna projíždějícího taxi
Muž v šedém triku přeskakuje přes vrchol písečné duny v poušti.
Dítě ve žlutém tričku skáče nahoru a dolů.
Dělník ve žluté bundě je vyzdvižen vysoko nahoru k opravě budovy.
Muž v Brazílii neformálně promlouvá k mladým dospělým.
Spousta pivních píp na baru s vánočním osvětlením na stropě.
Muž se slaňuje dolů z útesu nad oceánem.
Muž v černím kráčí ke svému náklaďáku ve sněhu.
Foxteriér skáče po míčku.
Policistka v čepici a tmavě modré uniformě se usmívá a má na sobě sluneční brýle před obchodem.
Rodina na procházce v parku.
Muž v zelené helmě a žluté bezpečnostní vestě se mračí.
Dítě s růžovými provázky na hlavě tancuje a je obklopeno konfetami a balonky.
Pes se spláclým čumákem něco čuchá na břehu řeky.
Muž připravuje místní stánek k dennímu obchodu.
Muž v červeném tričku se chystá jíst tacos.
Mladá žena v bílém drží tenisovou raketu
Chlapec v červeném tričku kope do písku díru žlutou lopatkou.
Individuum v růžové bundě nečinně sedí na dřevěné lavičce.
Muž v bílé košili se dívá ven z okna s kovovou konstrukcí.
Žena drží malou bílou sošku.
Šest dětí bez triček si hrají v přírodní vodě a cákají kolem sebe.
Dva lidé jedou na kolech přes horskou krajinu.
Dívka skákající přes švihadlo na chodníku vedle garáží.
Muž mající na sobě oranžové tričko a helmu.
Malý chlapec si hraje s plastovými kostičkami, auty a zvířátky a pozorně na něj dohlíží dospělá osoba.
Malá dívka otevírá vánoční dárek.
Žena v modrém nastavuje fotoaparát před dalšími dvěma ženami.
Malá dívka odpočívá na pohodlné sedačce.
Hnědočerný pes běžící po lesní cestě.
Dva psi si hrají u stromu.
Námořník kráčí po schodech, má na sobě černý kabát a kalhoty a fotoaparát je zaměřený na psa
Dva muži v zeleném připravují jídlo v restauraci.
Muž oblečený v černé kůži a kovbojském klobouku prochází okolo renesančního festivalu.
Pes běhá venku se žlutou hračkou.
Pes v pokrývce utíká sněhem.
Rodina si hraje na pláži se svým psem.
Žena a dítě se objímají a dítě ochutnává, co udělali.
Dva muži a žena stojí venku.
Skupina mužů táhne z vody loď za pomocí kmenů.
Muž pije ze sklenice na víno zatímco si čte noviny.
Muž v černém hraje na piano.
Mladý chlapec oblečený v modrém dresu a žlutých šortkách hraje fotbal.
Muž stojí na kamenné konstrukci a ruce má roztažené jako pták.
Pes pije vodu venku na trávníku.
Dvě ženy v tílkách se dívají na kameru.
Muž sedí na holičském křesle a je připraven k holení.
Dítě v zelených botách si hraje v bahnité louži.
Muž používá motorovou pilu k nařezání dřeva.
Muž sedící u piknikového stolu, na kterém je tác a upité pivo.
Chlapec v černém triku a modrých džínách drží červenou baseballovou pálku.
Muž, který má tmavě hnědé vlasy, vousy, brýle a na sobě hawajskou košili sedí na trávě.
Psi utíkají po závodní dráze.
Osvětlovač s klanovými tetováními míří reflektorem přes balkon.
Dva němečtí ovčáci na sebe vrčí.
Toto je skupina postávajících lidí na jakési události.
Hnědobílý pes chytá hračku.
Muž s bílými vlasy hraje na akordeon mezi budovami.
Žena s hnědými vlasy sedí na lavičce před kavárnou.
Muž vedle cyklistické stezky hraje na panovu flétnu.
Dvě děti balancují na kládě a drží lano.
Muž na motorce předvádí trik na závodní dráze.
Mladá žena s fialovou látkou zakrývající její obličej odpočívá na dřevěném mole.
Žena v hnědém tričku sedí na zářivé červené lavičce.
Pes kráčí po kmeni přes malou řeku.
Mladý muž má na sobě bílé tričko a zelenočerní kraťasy a stojí na patníku.
Skupina lidí je celá schovaná pod deštníky.
Muž inzeruje obrovskou cedulí přidělanou na kolo.
